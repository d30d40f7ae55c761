import type { Command } from 'commander';
import type { ExitCode } from '../errors';

export interface SalvageOptions {
  readonly stateDir: string;
  readonly out?: string;
}

/** `inferbus local salvage`, run by the local runtime's code (injected by bin/, as `local` is). */
export function addSalvageCommand(
  local: Command,
  run: (options: SalvageOptions) => Promise<ExitCode>,
  setExitCode: (code: ExitCode) => void,
): void {
  local
    .command('salvage')
    .description(
      'Copy every intact record of a damaged state folder into a new one, and list what could not be read',
    )
    .option('--out <dir>', 'the new state folder, empty or new (default: <state-dir>-salvaged)')
    .addHelpText(
      'after',
      `
--state-dir <dir> (inferbus local's own option, before or after "salvage") names the state folder to
read, default .inferbus; salvage never writes to it.

When \`inferbus local\` refuses to start because a state file is damaged (a checksum that does not
match, a length that runs into later records, a sealed Firehose segment cut short, a damaged
DynamoDB folder), salvage reads the state folder without changing it and writes a new one:
  sqs/queues.log       every record whose checksum matches, in order; the damaged ranges are skipped
  firehose/<stream>/   every intact write-ahead-log line, each segment sealed again
  dynamodb/            copied only when whole; otherwise left out (tenant state starts over)
  everything else      (the S3 objects) copied as it is
It prints, per file, the records kept and each unreadable range (byte offset, length, reason).
A lost record can matter: a lost delete brings a message back (processed again), a lost send loses it.
Exit code 0: everything was intact; 1: something was lost (listed); 2: bad usage.

Example:
  inferbus local salvage --state-dir .inferbus --out .inferbus-salvaged
  inferbus local --state-dir .inferbus-salvaged`,
    )
    // --state-dir is parsed by `local` (commander gives a parent the options after a subcommand too).
    .action(async (_options: unknown, command: Command) =>
      setExitCode(await run(command.optsWithGlobals<SalvageOptions>())),
    );
}
