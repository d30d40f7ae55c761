import { Command, InvalidArgumentError, Option } from 'commander';
import { CliError, ExitCode } from './errors';
import type { CliIO } from './io';

export interface LocalCommandOptions {
  readonly port: number;
  readonly stateDir: string;
  readonly stage: string;
  readonly demo: boolean;
  readonly events: number;
  readonly reset: boolean;
}

/** Commands whose implementation lives outside `cli/` (the local runtime) are injected by `bin/`. */
export interface ProgramDeps {
  readonly io: CliIO;
  readonly runLocal: (options: LocalCommandOptions, io: CliIO) => Promise<ExitCode>;
  readonly testEventPattern: (pattern: unknown, event: unknown) => boolean;
}

export function buildProgram(deps: ProgramDeps, setExitCode: (code: ExitCode) => void): Command {
  const program = new Command('inferbus')
    .description('Event-driven tiered ONNX inference on AWS, and its local runtime')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => deps.io.out(s.trimEnd()), writeErr: (s) => deps.io.err(s.trimEnd()) });

  program
    .command('local')
    .description('Run the synthesized app on this machine: EventBridge, SQS, Lambda, Firehose, S3 and Athena')
    .option('--port <n>', 'port of the AWS-protocol endpoint on 127.0.0.1 (0 = any free port)', integer, 4566)
    .option('--state-dir <dir>', 'where queues, objects and the archive are kept', '.inferbus')
    .option('--stage <name>', 'stage to synthesize and run', 'dev')
    .option('--demo', 'send sample events, wait until each is accounted for, print a summary and exit', false)
    .option('--events <n>', 'how many sample events the demo sends', integer, 3000)
    .option('--reset', 'start from an empty state folder (the demo always does)', false)
    .addHelpText(
      'after',
      '\nExamples:\n  inferbus local                      # run until Ctrl-C; prints endpoints and credentials\n  inferbus local --demo --events 500  # the npm start demo, smaller',
    )
    .action(async (options: LocalCommandOptions) => setExitCode(await deps.runLocal(options, deps.io)));

  program
    .command('test-event-pattern')
    .description('Test an EventBridge event pattern against an event, offline (same answer as the AWS API)')
    .requiredOption('--pattern <json>', 'the event pattern, as JSON')
    .requiredOption('--event <json>', 'the event, as JSON')
    .addHelpText(
      'after',
      `\nExample:\n  inferbus test-event-pattern --pattern '{"source":["inferbus.acme"]}' --event "$(cat events/inference-requested.json)"`,
    )
    .action((options: { pattern: string; event: string }) => {
      const matched = deps.testEventPattern(json('--pattern', options.pattern), json('--event', options.event));
      deps.io.out(JSON.stringify({ Result: matched }));
    });

  program.addOption(new Option('--no-color', 'plain output').hideHelp());
  return program;
}

function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return parsed;
}

function json(flag: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`${flag} is not valid JSON: ${(error as Error).message}`, ExitCode.Usage);
  }
}
