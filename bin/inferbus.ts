import '../cli/quiet-warnings';
import { CommanderError } from 'commander';
import { CliError, ExitCode } from '../cli/errors';
import { processIO } from '../cli/io';
import { buildProgram } from '../cli/program';
import { matchesPattern, validatePattern } from '../local/eventbridge/pattern';

// `inferbus query ... | head` closes the pipe early: stop quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

let exitCode: ExitCode = ExitCode.Ok;
const program = buildProgram(
  {
    io: processIO,
    // Loaded on use: the local runtime's imports would slow every other command's start.
    runLocal: async (options, io) => (await import('../local/command')).runLocalCommand(options, io),
    salvageLocal: async (options, io) =>
      (await import('../local/salvage/command')).runSalvageCommand(options, io),
    preflightOffline: async (options) => {
      const { runPreflightOffline, PreflightCommandError } = await import('../local/preflight/command');
      try {
        return await runPreflightOffline(options);
      } catch (error) {
        if (error instanceof PreflightCommandError) throw new CliError(error.message, error.exitCode);
        throw error;
      }
    },
    testEventPattern: (pattern, event) => {
      validatePattern(pattern);
      return matchesPattern(pattern, event);
    },
  },
  (code) => {
    exitCode = code;
  },
);

try {
  await program.parseAsync(process.argv);
  process.exitCode = exitCode;
} catch (error) {
  if (error instanceof CliError) {
    processIO.err(`error: ${error.message}`);
    process.exitCode = error.exitCode;
  } else if (error instanceof CommanderError) {
    // Commander already printed the message (or the help); usage errors exit 2 like other usage errors.
    process.exitCode = error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
  } else if ((error as Error).name === 'InvalidEventPatternError') {
    processIO.err(`error: ${(error as Error).message}`);
    process.exitCode = ExitCode.Usage;
  } else {
    throw error;
  }
}
