import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as z from 'zod/mini';
import type { LocalAuthorizer } from './authorizer';

/**
 * The distinct AWS calls the functions made while `inferbus local` ran, as the local IAM saw them
 * (principal, action, resource, context, decision): written into the state folder so that
 * `inferbus preflight` can check them against a later template's roles.
 */
export const OBSERVED_CALLS_FILE = join('iam', 'observed.json');
const WRITE_INTERVAL_MS = 30_000;

const observedCallSchema = z.object({
  /** The principal's label: a function's (or delivery stream's) logical id. */
  principal: z.string(),
  roleArn: z.string(),
  action: z.string().check(z.regex(/^[a-z0-9-]+:[A-Za-z0-9*]+$/)),
  resource: z.string(),
  context: z.optional(z.record(z.string(), z.union([z.string(), z.array(z.string())]))),
  allowed: z.boolean(),
});
export type ObservedCall = z.infer<typeof observedCallSchema>;

const observedFileSchema = z.object({
  version: z.literal(1),
  stackName: z.string(),
  updatedAt: z.string(),
  calls: z.array(observedCallSchema),
});
export type ObservedCallsFile = z.infer<typeof observedFileSchema>;

export class ObservedCallsError extends Error {
  override readonly name = 'ObservedCallsError';
}

/** Writes the authorizer's observed calls to `<stateDir>/iam/observed.json` (whole file, renamed into place). */
export function writeObservedCalls(stateDir: string, stackName: string, iam: LocalAuthorizer): void {
  const calls: ObservedCall[] = iam.observedCalls().map(({ principal, roleArn, request, allowed }) => ({
    principal,
    roleArn,
    action: request.action,
    resource: request.resource,
    ...(request.context && {
      context: Object.fromEntries(
        Object.entries(request.context).flatMap(([k, v]) =>
          v === undefined ? [] : [[k, typeof v === 'string' ? v : [...v]]],
        ),
      ),
    }),
    allowed,
  }));
  const file: ObservedCallsFile = { version: 1, stackName, updatedAt: new Date().toISOString(), calls };
  const path = join(stateDir, OBSERVED_CALLS_FILE);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(file, null, 1)}\n`);
  renameSync(`${path}.tmp`, path);
}

/**
 * Keeps the file current while the runtime runs (every 30 s and at stop), so a runtime that is
 * killed still leaves what it saw up to its last write.
 */
export function recordObservedCalls(stateDir: string, stackName: string, iam: LocalAuthorizer) {
  const write = () => writeObservedCalls(stateDir, stackName, iam);
  const timer = setInterval(() => {
    try {
      write();
    } catch {
      // A full or read-only disk: the final write at stop reports it.
    }
  }, WRITE_INTERVAL_MS);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      write();
    },
  };
}

/** Reads an observed-calls file; undefined when it does not exist, a clear error when it is not one. */
export function readObservedCalls(path: string): ObservedCallsFile | undefined {
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ObservedCallsError(
      `${path} is not JSON (${(error as Error).message}): delete it and run \`inferbus local\` again to record the calls anew`,
    );
  }
  const result = observedFileSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ObservedCallsError(
      `${path} is not an observed-calls file (version 1) of inferbus local: ${issue?.path.join('.') || '(top)'}: ${issue?.message}; delete it and run \`inferbus local\` again`,
    );
  }
  return result.data;
}
