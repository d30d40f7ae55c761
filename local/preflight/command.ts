import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OBSERVED_CALLS_FILE } from '../iam/observed-log';
import { TemplateError } from '../template';
import { type OfflinePreflightReport, PreflightUsageError, runOfflinePreflight } from './offline';

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * A failure the CLI reports with its exit code (2 usage, 3 environment). Named `CliError` and
 * shaped like cli/errors.ts's, which local/ may not import: bin/ maps it.
 */
export class PreflightCommandError extends Error {
  override readonly name = 'PreflightCommandError';
  constructor(
    message: string,
    readonly exitCode: 2 | 3,
  ) {
    super(message);
  }
}

/**
 * `inferbus preflight`'s offline part, as the CLI calls it: paths as typed, the package's cdk.out
 * by default, and the observed calls of `inferbus local` (or of `npm start`, which keeps its state
 * in `<state-dir>/demo`), whichever was written last.
 */
export async function runPreflightOffline(options: {
  readonly stage: string;
  readonly cdkOut?: string;
  readonly observed?: string;
  readonly stateDir: string;
  readonly log: (line: string) => void;
}): Promise<OfflinePreflightReport> {
  const stateDir = resolve(options.stateDir);
  const newest = [stateDir, join(stateDir, 'demo')]
    .filter((dir) => existsSync(join(dir, OBSERVED_CALLS_FILE)))
    .sort(
      (a, b) =>
        statSync(join(b, OBSERVED_CALLS_FILE)).mtimeMs - statSync(join(a, OBSERVED_CALLS_FILE)).mtimeMs,
    )[0];
  try {
    return await runOfflinePreflight({
      projectRoot: PROJECT_ROOT,
      cdkOutDir: options.cdkOut === undefined ? join(PROJECT_ROOT, 'cdk.out') : resolve(options.cdkOut),
      stage: options.stage,
      stateDir: newest ?? stateDir,
      ...(options.observed !== undefined && { observedPath: options.observed }),
      log: options.log,
    });
  } catch (error) {
    if (error instanceof PreflightUsageError) throw new PreflightCommandError(error.message, 2);
    if (error instanceof TemplateError) throw new PreflightCommandError(error.message, 3);
    throw error;
  }
}
