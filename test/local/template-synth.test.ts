import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureSynthesized, staleReason } from '../../local/template';

function project(): { root: string; out: string } {
  const root = mkdtempSync(join(tmpdir(), 'inferbus-project-'));
  const out = join(root, 'cdk.out');
  mkdirSync(join(root, 'lib'), { recursive: true });
  writeFileSync(join(root, 'lib', 'app.ts'), '// app');
  mkdirSync(out);
  writeFileSync(
    join(out, 'manifest.json'),
    JSON.stringify({
      artifacts: { s: { type: 'aws:cloudformation:stack', properties: { templateFile: 's.template.json' } } },
    }),
  );
  writeFileSync(join(out, 's.template.json'), '{"Resources":{}}');
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(root, 'lib', 'app.ts'), past, past);
  utimesSync(join(root, 'lib'), past, past);
  return { root, out };
}

describe('ensureSynthesized', () => {
  it('leaves a fresh cdk.out alone', async () => {
    const { root, out } = project();
    expect(staleReason(root, out)).toBeNull();
    const lines: string[] = [];
    const ran = await ensureSynthesized({
      projectRoot: root,
      cdkOutDir: out,
      stage: 'dev',
      log: (l) => lines.push(l),
      command: [process.execPath, '-e', 'process.exit(9)'],
    });
    expect(ran).toBe(false);
    expect(lines).toEqual([]);
  });

  it('synthesizes when a source is newer or the template is missing', async () => {
    const { root, out } = project();
    const future = new Date(Date.now() + 60_000);
    utimesSync(join(root, 'lib', 'app.ts'), future, future);
    expect(staleReason(root, out)).toMatch(/lib changed/);
    const lines: string[] = [];
    const ran = await ensureSynthesized({
      projectRoot: root,
      cdkOutDir: out,
      stage: 'dev',
      log: (l) => lines.push(l),
      command: [process.execPath, '-e', 'console.log("synth ok")'],
    });
    expect(ran).toBe(true);
    expect(lines).toContain('synth ok');
    const fresh = project();
    writeFileSync(join(fresh.out, 'manifest.json'), '{"artifacts":{}}');
    expect(staleReason(fresh.root, fresh.out)).toMatch(/no stack template/);
  });

  it('synthesizes again when cdk.out holds another stage, and fails when synth does not make that stack', async () => {
    // What `npx cdk synth -c stage=prod` leaves: a manifest whose only stack is inferbus-prod.
    const { root, out } = project();
    expect(staleReason(root, out, 's')).toBeNull();
    expect(staleReason(root, out, 'inferbus-dev')).toBe(`${out} holds s, not inferbus-dev`);
    const lines: string[] = [];
    await expect(
      ensureSynthesized({
        projectRoot: root,
        cdkOutDir: out,
        stage: 'dev',
        stackName: 'inferbus-dev',
        log: (l) => lines.push(l),
        command: [process.execPath, '-e', ''],
      }),
    ).rejects.toThrow(
      /cdk synth finished but .* is still not usable: .* holds s, not inferbus-dev\. Check that stage dev synthesizes inferbus-dev/,
    );
    expect(lines[0]).toMatch(/^synthesizing \(.* holds s, not inferbus-dev\)/);
  });

  it('fails with the tail of stderr when synth fails', async () => {
    const { root } = project();
    await expect(
      ensureSynthesized({
        projectRoot: root,
        cdkOutDir: join(root, 'missing.out'),
        stage: 'dev',
        log: () => {},
        command: [
          process.execPath,
          '-e',
          'console.error("Error: stage prod needs an account"); process.exit(3)',
        ],
      }),
    ).rejects.toThrow(/failed \(exit 3\)[\s\S]*stage prod needs an account/);
  });
});
