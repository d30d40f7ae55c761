import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../lib/app';
import { ensureSynthesized } from '../../local/template';

export type TemplateJson = { Resources: Record<string, { Type: string; Properties?: any }> };

/**
 * The project's `cdk.out` with the dev stage synthesized and current (a clean clone has none yet):
 * what tests that read the synthesized templates directly must wait for first.
 */
export async function synthesizedCdkOut(): Promise<string> {
  const cdkOutDir = join(PROJECT_ROOT, 'cdk.out');
  await ensureSynthesized({
    projectRoot: PROJECT_ROOT,
    cdkOutDir,
    stage: 'dev',
    stackName: 'inferbus-dev',
    log: () => {},
  });
  return cdkOutDir;
}

/**
 * A copy of the project's `cdk.out` (assets hard-linked, not copied) whose stack template `edit` has
 * changed: what a grant removed in the CDK app would synthesize, without running `cdk synth`.
 */
export async function templateVariant(
  edit: (template: TemplateJson) => void,
  stack = 'inferbus-dev',
): Promise<string> {
  const source = await synthesizedCdkOut();
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-variant-'));
  for (const name of readdirSync(source)) {
    const from = join(source, name);
    // Hard links, not symlinks: the runner would resolve a symlink to the project's cdk.out, whose
    // package.json scope ("type": "module") is not the asset's.
    if (name.startsWith('asset.')) execFileSync('cp', ['-al', from, join(dir, name)]);
    else if (statSync(from).isFile()) copyFileSync(from, join(dir, name));
  }
  const path = join(dir, `${stack}.template.json`);
  const template = JSON.parse(readFileSync(path, 'utf8')) as TemplateJson;
  edit(template);
  writeFileSync(path, JSON.stringify(template));
  return dir;
}

/** The template's resources of one type whose logical id starts with `prefix`. */
export function resourcesOf(template: TemplateJson, type: string, prefix = '') {
  return Object.entries(template.Resources).filter(([id, r]) => r.Type === type && id.startsWith(prefix));
}
