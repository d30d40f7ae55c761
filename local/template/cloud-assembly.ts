import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TemplateError } from './errors.js';
import { isRecord } from './template.js';

export const DEFAULT_REGION = 'us-east-1';

export interface StackArtifact {
  /** The CloudFormation stack name (`properties.stackName`, else the artifact id). */
  readonly stackName: string;
  readonly artifactId: string;
  /** Absolute path of `<stack>.template.json`. */
  readonly templatePath: string;
  /** From the artifact's `environment` (`aws://account/region`), else us-east-1. */
  readonly region: string;
}

export interface CloudAssembly {
  readonly dir: string;
  readonly stacks: readonly StackArtifact[];
}

/** Region of `aws://unknown-account/eu-west-1`; environment-agnostic stacks get us-east-1. */
export function regionOf(environment: unknown): string {
  if (typeof environment !== 'string') return DEFAULT_REGION;
  const match = /^aws:\/\/[^/]*\/([^/]+)$/.exec(environment);
  const region = match?.[1];
  return region && region !== 'unknown-region' ? region : DEFAULT_REGION;
}

/** Reads `cdk.out/manifest.json` and lists its CloudFormation stack artifacts. */
export function readCloudAssembly(cdkOutDir: string): CloudAssembly {
  const dir = resolve(cdkOutDir);
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    throw new TemplateError(
      `${manifestPath} not found: run \`npx cdk synth\` first (or point at another cdk.out).`,
    );
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (error) {
    throw new TemplateError(
      `${manifestPath} is not valid JSON (${(error as Error).message}); run \`npx cdk synth\` again.`,
    );
  }
  const artifacts = isRecord(manifest) && isRecord(manifest.artifacts) ? manifest.artifacts : {};
  const stacks: StackArtifact[] = [];
  for (const [artifactId, artifact] of Object.entries(artifacts)) {
    if (!isRecord(artifact) || artifact.type !== 'aws:cloudformation:stack') continue;
    const properties = isRecord(artifact.properties) ? artifact.properties : {};
    if (typeof properties.templateFile !== 'string') {
      throw new TemplateError(
        `Stack artifact ${artifactId} in ${manifestPath} has no properties.templateFile.`,
      );
    }
    stacks.push({
      stackName: typeof properties.stackName === 'string' ? properties.stackName : artifactId,
      artifactId,
      templatePath: join(dir, properties.templateFile),
      region: regionOf(artifact.environment),
    });
  }
  return { dir, stacks };
}

/** The stack named `stackName` (stack name, artifact id), or the only stack. */
export function selectStack(assembly: CloudAssembly, stackName?: string): StackArtifact {
  const names = assembly.stacks.map((s) => s.stackName).join(', ');
  if (stackName !== undefined) {
    const found = assembly.stacks.find((s) => s.stackName === stackName || s.artifactId === stackName);
    if (!found) {
      throw new TemplateError(
        `Stack ${stackName} is not in ${assembly.dir}; it has: ${names || 'no stacks'}. Pass one of those names.`,
      );
    }
    return found;
  }
  const [only, ...rest] = assembly.stacks;
  if (!only) throw new TemplateError(`${assembly.dir} holds no CloudFormation stack; run \`npx cdk synth\`.`);
  if (rest.length > 0) {
    throw new TemplateError(`${assembly.dir} holds several stacks (${names}); name the one to run.`);
  }
  return only;
}
