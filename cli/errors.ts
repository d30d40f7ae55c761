/** Exit codes every inferbus command uses (documented in README). */
export const ExitCode = {
  Ok: 0,
  /** The command ran but something failed (events not accepted, a query failed). */
  Failed: 1,
  /** Bad usage or input: fix the command line or the file. */
  Usage: 2,
  /** The environment is not ready: no credentials, endpoint unreachable, synth failed. */
  Environment: 3,
  /** Stopped by Ctrl-C (128 + SIGINT), after saying what was done and what was not. */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error meant for the person at the terminal: the message says what to do next. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.Failed,
  ) {
    super(message);
  }
}
