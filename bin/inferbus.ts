import { CliError, ExitCode } from '../cli/errors';
import { processIO } from '../cli/io';
import { buildProgram } from '../cli/program';
import { matchesPattern, validatePattern } from '../local/eventbridge/pattern';
import { runLocalCommand } from '../local/command';

let exitCode: ExitCode = ExitCode.Ok;
const program = buildProgram(
  {
    io: processIO,
    runLocal: runLocalCommand,
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
  } else if ((error as Error).name === 'InvalidEventPatternError') {
    processIO.err(`error: ${(error as Error).message}`);
    process.exitCode = ExitCode.Usage;
  } else {
    throw error;
  }
}
