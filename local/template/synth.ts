import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readCloudAssembly, type StackArtifact } from './cloud-assembly.js';
import { TemplateError } from './errors.js';

/** Folders whose changes make `cdk.out` stale, and single files that do too. */
export const SOURCE_DIRS = ['bin', 'lib', 'functions', 'layers', 'models'] as const;
export const SOURCE_FILES = ['cdk.json', 'package-lock.json'] as const;
const STDERR_TAIL_LINES = 30;

export interface EnsureSynthesizedOptions {
  readonly projectRoot: string;
  readonly cdkOutDir: string;
  readonly stage: string;
  /**
   * The stack the caller will run (`inferbus-<stage>`): a `cdk.out` synthesized for another stage
   * (`cdk synth -c stage=prod`, as the deploy steps say) is synthesized again. @default any stack
   */
  readonly stackName?: string;
  readonly log: (line: string) => void;
  /**
   * A stage configuration file (`-c config=`): synth applies it, and a `cdk.out` synthesized with
   * another file, or none, or before this file changed, is synthesized again.
   */
  readonly configFile?: string;
  /** Overrides the synth command (tests); default `npx cdk synth --quiet -c stage=<stage>`. */
  readonly command?: readonly string[];
}

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    newest = Math.max(newest, newestMtime(join(path, entry.name)));
  }
  return newest;
}

/**
 * What makes `cdk.out` unusable (no manifest, no stack, a missing template, not the stack asked
 * for), or null.
 */
function assemblyProblem(cdkOutDir: string, stackName?: string): string | null {
  const manifest = join(cdkOutDir, 'manifest.json');
  if (!existsSync(manifest)) return `${manifest} is missing`;
  let stacks: readonly StackArtifact[];
  try {
    stacks = readCloudAssembly(cdkOutDir).stacks;
  } catch (error) {
    return (error as Error).message;
  }
  if (stacks.length === 0) return `${cdkOutDir} holds no stack template`;
  if (stackName !== undefined && !stacks.some((s) => s.stackName === stackName))
    return `${cdkOutDir} holds ${stacks.map((s) => s.stackName).join(', ')}, not ${stackName}`;
  const missing = stacks.map((s) => s.templatePath).find((t) => !existsSync(t));
  return missing ? `${missing} is missing` : null;
}

/**
 * What `cdk.out` was synthesized from, beside the assembly: the stage and the configuration file's
 * path and sha256, so a run with another configuration never takes the last one's template.
 */
export const SYNTH_STAMP_FILE = '.inferbus-synth.json';

interface SynthStamp {
  readonly stage: string;
  readonly configFile: string | null;
  readonly configSha256: string | null;
}

function stampOf(stage: string, configFile: string | undefined): SynthStamp {
  if (configFile === undefined) return { stage, configFile: null, configSha256: null };
  const path = resolve(configFile);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new TemplateError(`Cannot read the stage configuration file ${path}: ${(error as Error).message}`);
  }
  return { stage, configFile: path, configSha256: createHash('sha256').update(bytes).digest('hex') };
}

function stampProblem(cdkOutDir: string, wanted: SynthStamp): string | null {
  const path = join(cdkOutDir, SYNTH_STAMP_FILE);
  let stamp: Partial<SynthStamp> = { configFile: null, configSha256: null };
  if (existsSync(path)) {
    try {
      stamp = JSON.parse(readFileSync(path, 'utf8')) as SynthStamp;
    } catch {
      return `${path} is unreadable`;
    }
  }
  const had = stamp.configFile ?? null;
  if (had !== wanted.configFile) {
    return wanted.configFile === null
      ? `it was synthesized with -c config=${had}`
      : `it was synthesized ${had === null ? 'without a configuration file' : `with -c config=${had}`}, not ${wanted.configFile}`;
  }
  if ((stamp.configSha256 ?? null) !== wanted.configSha256)
    return `${wanted.configFile} changed after the last synth`;
  return null;
}

/** Why `cdk.out` must be synthesized again, or null when it is up to date. */
export function staleReason(
  projectRoot: string,
  cdkOutDir: string,
  stackName?: string,
  stamp: SynthStamp = { stage: '', configFile: null, configSha256: null },
): string | null {
  const problem = assemblyProblem(cdkOutDir, stackName) ?? stampProblem(cdkOutDir, stamp);
  if (problem) return problem;
  const manifest = join(cdkOutDir, 'manifest.json');
  const templates = readCloudAssembly(cdkOutDir).stacks.map((s) => s.templatePath);
  const synthesizedAt = Math.min(statSync(manifest).mtimeMs, ...templates.map((t) => statSync(t).mtimeMs));
  for (const source of [...SOURCE_DIRS, ...SOURCE_FILES]) {
    if (newestMtime(join(projectRoot, source)) > synthesizedAt)
      return `${source} changed after the last synth`;
  }
  return null;
}

/**
 * Runs `cdk synth` when `cdk.out` is missing or older than the sources it is built from, so the
 * local runtime never runs yesterday's wiring. Resolves to whether it synthesized.
 */
export async function ensureSynthesized(options: EnsureSynthesizedOptions): Promise<boolean> {
  const projectRoot = resolve(options.projectRoot);
  const cdkOutDir = resolve(projectRoot, options.cdkOutDir);
  const stamp = stampOf(options.stage, options.configFile);
  const reason = staleReason(projectRoot, cdkOutDir, options.stackName, stamp);
  if (reason === null) return false;
  const command = options.command ?? [
    'npx',
    'cdk',
    'synth',
    '--quiet',
    '-c',
    `stage=${options.stage}`,
    ...(stamp.configFile ? ['-c', `config=${stamp.configFile}`] : []),
    ...(cdkOutDir === join(projectRoot, 'cdk.out') ? [] : ['--output', cdkOutDir]),
  ];
  options.log(`synthesizing (${reason}): ${command.join(' ')}`);
  const [file, ...args] = command as [string, ...string[]];
  const tail: string[] = [];
  const code = await new Promise<number | null>((done, failed) => {
    const child = spawn(file, args, { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = (chunk: Buffer, keep: boolean) => {
      for (const line of chunk.toString('utf8').split(/\r?\n/)) {
        if (!line.trim()) continue;
        options.log(line);
        if (keep) {
          tail.push(line);
          if (tail.length > STDERR_TAIL_LINES) tail.shift();
        }
      }
    };
    child.stdout.on('data', (chunk: Buffer) => lines(chunk, false));
    child.stderr.on('data', (chunk: Buffer) => lines(chunk, true));
    child.on('error', failed);
    child.on('close', done);
  }).catch((error: Error) => {
    throw new TemplateError(`Could not start \`${command.join(' ')}\`: ${error.message}`);
  });
  if (code !== 0) {
    throw new TemplateError(
      `\`${command.join(' ')}\` failed (exit ${code}) in ${projectRoot}; fix the CDK app and try again.\n${tail.join('\n')}`,
    );
  }
  const problem = assemblyProblem(cdkOutDir, options.stackName);
  if (!problem) writeFileSync(join(cdkOutDir, SYNTH_STAMP_FILE), `${JSON.stringify(stamp)}\n`);
  if (problem)
    throw new TemplateError(
      `cdk synth finished but ${cdkOutDir} is still not usable: ${problem}. ` +
        `Check that stage ${options.stage} synthesizes ${options.stackName ?? 'a stack'} (does -c config= rename it?).`,
    );
  return true;
}
