import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_PRODUCER_PACK_POLICY } from '../functions/core/packing/policy';
import { type CostOptions, costCommand } from './commands/cost';
import { dlqList, dlqRedrive, dlqShow } from './commands/dlq';
import { eventsSampleCommand } from './commands/events-sample';
import { addSalvageCommand, type SalvageOptions } from './commands/local-salvage';
import { addModelsCommand } from './commands/models';
import { type OfflinePreflight, type PreflightOptions, preflightCommand } from './commands/preflight';
import { DEFAULT_DETAIL_TYPE, type PutEventsOptions, putEventsCommand } from './commands/put-events';
import { type QueryOptions, queryCommand } from './commands/query';
import { type ReplayOptions, replayCommand } from './commands/replay';
import { type TraceOptions, traceCommand } from './commands/trace';
import { AwsContext, type AwsFlags, addAwsOptions } from './context';
import { CliError, ExitCode } from './errors';
import type { OutputFormat } from './format';
import type { CliIO } from './io';

export interface LocalCommandOptions {
  readonly port: number;
  readonly s3Port: number;
  readonly dynamodbPort: number;
  /** As typed: relative paths are resolved against the working folder. */
  readonly stateDir: string;
  /** As typed; undefined means the package's own `cdk.out`. */
  readonly cdkOut?: string;
  /** A stage configuration file passed to synth as `-c config=` (relative to the working folder). */
  readonly config?: string;
  readonly stage: string;
  readonly demo: boolean;
  readonly events: number;
  readonly reset: boolean;
  /** Print the handlers' log lines on stderr. */
  readonly functionLogs: boolean;
}

/** Commands whose implementation lives outside `cli/` (the local runtime) are injected by `bin/`. */
export interface ProgramDeps {
  readonly io: CliIO;
  readonly runLocal: (options: LocalCommandOptions, io: CliIO) => Promise<ExitCode>;
  /** `inferbus local salvage`. */
  readonly salvageLocal?: (options: SalvageOptions, io: CliIO) => Promise<ExitCode>;
  readonly testEventPattern: (pattern: unknown, event: unknown) => boolean;
  /** The offline part of `inferbus preflight` (synth, limits, IAM simulation), from local/. */
  readonly preflightOffline?: OfflinePreflight;
}

export function buildProgram(deps: ProgramDeps, setExitCode: (code: ExitCode) => void): Command {
  const program = new Command('inferbus')
    .description('Event-driven tiered ONNX inference on AWS, and its local runtime')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => deps.io.out(s.trimEnd()),
      writeErr: (s) => deps.io.err(s.trimEnd()),
    });

  const local = program
    .command('local')
    .description('Run the synthesized app on this machine: EventBridge, SQS, Lambda, Firehose, S3 and Athena')
    .option(
      '--port <n>',
      'port of the AWS-protocol endpoint (EventBridge, SQS, Athena) on 127.0.0.1 (0 = any free port)',
      port,
      4566,
    )
    .option('--s3-port <n>', 'port of the S3 endpoint on 127.0.0.1 (0 = any free port)', port, 0)
    .option('--dynamodb-port <n>', 'port of the DynamoDB endpoint on 127.0.0.1 (0 = any free port)', port, 0)
    .option(
      '--state-dir <dir>',
      'where queues, objects and the archive are kept, relative to the current folder',
      '.inferbus',
    )
    .option(
      '--stage <name>',
      'stage to run (stack inferbus-<stage>); synthesized when cdk.out holds another',
      'dev',
    )
    .option(
      '--cdk-out <dir>',
      "synthesized app to run and synthesize into (default: the inferbus package's cdk.out)",
    )
    .option(
      '--config <file.json>',
      "stage configuration file that overrides the stage's top-level fields (cdk synth -c config=), e.g. its tasks",
    )
    .option('--demo', 'send sample events, wait until each is accounted for, print a summary and exit', false)
    .option('--events <n>', 'how many sample events the demo sends', integer, 3000)
    .option(
      '--function-logs',
      "print the handlers' log lines (their stdout and stderr, as CloudWatch Logs would get them) on stderr, each prefixed with [function name]",
      false,
    )
    .option(
      '--reset',
      'empty the state folder first (the demo always empties <state-dir>/demo); only a folder inferbus local created',
      false,
    )
    .addHelpText(
      'after',
      `
The state folder gets a .inferbus-state marker when inferbus local creates it: --reset and --demo
empty only folders that carry it. One runtime at a time uses a state folder (a .inferbus-lock file
names its pid); a lock left by a process that is gone is taken over.
The banner and GET /health list every endpoint, the stage, the template and the state folder.

Examples:
  inferbus local                      # run until Ctrl-C; prints endpoints and credentials
  inferbus local --s3-port 4569 --dynamodb-port 4570   # the same ports on every start
  inferbus local --demo --events 500  # the npm start demo, smaller
  inferbus local --function-logs      # and print what the handlers log (one line per batch, errors)
  inferbus local --config my-stage.json --cdk-out cdk.out.mine   # a stage with your own tasks`,
    )
    .action(async (options: LocalCommandOptions) => setExitCode(await deps.runLocal(options, deps.io)));
  const salvageLocal = deps.salvageLocal;
  if (salvageLocal) addSalvageCommand(local, (options) => salvageLocal(options, deps.io), setExitCode);

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
      const matched = deps.testEventPattern(
        json('--pattern', options.pattern),
        json('--event', options.event),
      );
      deps.io.out(JSON.stringify({ Result: matched }));
    });

  const preflightOffline = deps.preflightOffline;
  if (preflightOffline) {
    program
      .command('preflight')
      .description(
        'What to run before `cdk deploy`: synthesize the stage, check AWS limits, simulate every call each function makes against its role, and check the account',
      )
      .option(
        '--stage <name>',
        'stage to check (stack inferbus-<stage>); synthesized when cdk.out is stale',
        'dev',
      )
      .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
      .option(
        '--cdk-out <dir>',
        "synthesized app to check and synthesize into (default: the inferbus package's cdk.out)",
      )
      .option('--offline', 'skip the account checks (no AWS calls at all)', false)
      .option(
        '--observed <file>',
        'calls recorded by inferbus local (default: <state-dir>/iam/observed.json or <state-dir>/demo/iam/observed.json)',
      )
      .option(
        '--state-dir <dir>',
        'state folder of inferbus local, relative to the current folder',
        '.inferbus',
      )
      .option('--region <region>', "region of the account checks (default: the stack's region)")
      .option('--profile <name>', 'named profile from ~/.aws/config for the account checks')
      .addHelpText(
        'after',
        `
Offline (always): the stage synthesizes; the template is within AWS limits (Lambda environment 4 KB,
500 resources, 1 MB template, input transformers, rules per bus, SQS and event source settings);
every AWS call each function makes (declared beside its handler in functions/<tier>/calls.ts, plus
the calls inferbus local recorded) is allowed by the function's role and the resource's policy.
With credentials (not --offline): Lambda unreserved concurrency − 100 covers the stage's provisioned
concurrency; the CDKToolkit bootstrap stack exists and is recent enough; the EventBridge rules-per-bus
quota (Service Quotas events L-244521F2) covers the stage's rules. Without credentials the account
checks are skipped and say so.
Exit codes: 0 all passed (skipped checks say why), 1 something would fail, 2 bad options or
--observed file, 3 the stage could not be synthesized.

Examples:
  inferbus preflight --stage dev
  inferbus preflight --stage prod --profile prod --format json
  inferbus preflight --stage dev --offline --observed .inferbus/demo/iam/observed.json`,
      )
      .action(async (options: PreflightOptions) =>
        setExitCode(await preflightCommand(options, preflightOffline, deps.io)),
      );
  }

  const io = deps.io;
  /** Runs a command that talks to AWS: builds the context, maps SDK errors to clear ones, sets the exit code. */
  const aws =
    <A extends unknown[]>(run: (ctx: AwsContext, ...args: A) => Promise<ExitCode>) =>
    async (...args: A) => {
      const command = args[args.length - 1] as Command;
      const ctx = new AwsContext(command.opts() as AwsFlags);
      try {
        setExitCode(await run(ctx, ...args));
      } catch (error) {
        throw ctx.explain(error);
      }
    };

  addAwsOptions(
    program
      .command('put-events')
      .description(
        'Send NDJSON envelopes (or raw PutEvents entries) to the stage bus: validated, packed, batched, retried',
      )
      .argument('[file]', 'NDJSON file, or - for stdin', '-'),
  )
    .option('--rate <n>', 'at most N requests per second', positive)
    .option('--concurrency <n>', 'requests in flight at once', positive, 4)
    .option('--max-attempts <n>', 'attempts per entry before it counts as failed', positive, 5)
    .option('--detail-type <type>', 'detail-type for envelope lines', DEFAULT_DETAIL_TYPE)
    .option('--bus <name>', 'event bus (default: inferbus-<stage>)')
    .option('--claim-bucket <bucket>', 'S3 bucket for payloads over 1 MB (default: the stack claims bucket)')
    .option(
      '--failed-file <path>',
      'where entries that failed for good are written (default: inferbus-failed-<time>.ndjson)',
    )
    .option('--skip-invalid', 'send the valid lines even when some are invalid (exit code 1)')
    .option(
      '--allow-unknown-tenants',
      'send InferenceRequested entries even for tenants the stage has no rule for (they wait in the unrouted queue)',
    )
    .option('--cdk-out <dir>', 'synthesized app holding inferbus-<stage>.template.json (default: ./cdk.out)')
    .option('--no-pack', 'send every request as its own entry (for consumers that do not read packs)')
    .option(
      '--pack-max <n>',
      `most requests in one packed entry (default ${DEFAULT_PRODUCER_PACK_POLICY.maxItems})`,
      positive,
    )
    .option(
      '--pack-bytes <n>',
      `most bytes of one packed entry (default ${DEFAULT_PRODUCER_PACK_POLICY.maxEntryBytes}: one 64 KB billing unit less room for the SQS wrapper)`,
      positive,
    )
    .addOption(
      new Option('--codec <codec>', 'encoding of the packed requests')
        .choices(['zstd', 'json'])
        .default(DEFAULT_PRODUCER_PACK_POLICY.codec),
    )
    .option('--dry-run', 'validate only; send nothing')
    .option('--json', 'print the summary as one JSON object')
    .addHelpText(
      'after',
      `\nPacking (on unless --no-pack): requests of one tenant, task and detail-type share an entry, a
packed envelope whose routing fields (tenant, task, type) stay outside the packed part and whose
requests keep their own ids, sequence numbers and HLCs. A request alone in its group is sent as a
plain single event. The whole input is read before sending, so no request waits for company: packs
are cut by --pack-max and --pack-bytes (the producer library's flush timer is its pack.waitMs).
  Saves: EventBridge bills each 64 KB of an entry as one event and SQS each 64 KB as one request,
  so a pack of N requests costs what one request cost alone (spam e-mails: about 10 per unit as
  json, 23 with zstd; BENCHMARKS.md "Encoding"), and the handlers get N requests per message.
  Costs: CPU at both ends (zstd: about 70 us per request per encode here, a pack is sized in a
  few encodes, and the handlers decode it); a pack is accepted, retried or refused whole (a retry
  resends the same requests with the same ids, which the handlers de-duplicate); consumers must
  read packs (the inferbus handlers do; --no-pack for others). The summary, the progress line and
  the failed file count requests, not entries.

Each line is an inferbus envelope ({"id","tenant","stream","seq","hlc","type","payload","metadata","time"}),
sent with source inferbus.<tenant>, or a raw entry ({"Source","DetailType","Detail",...}).
Invalid lines are reported by line number and nothing is sent unless --skip-invalid.
Requests for a tenant the stage's template has no rule for are refused before sending.
Entries that fail for good are saved to a file you can resend as it is. Ctrl-C stops sending,
waits for the requests in flight, and saves the failed and unsent entries there too (exit 130).

Examples:
  inferbus events sample --count 100 | inferbus put-events --local -
  inferbus put-events events.ndjson --stage prod --region eu-west-1 --rate 200
  inferbus put-events events.ndjson --codec json --pack-max 50   # readable packs of at most 50
  inferbus put-events inferbus-failed-2026-11-28T12-00-00-000Z.ndjson   # resend what failed`,
    )
    .action(aws((ctx, file: string, options: PutEventsOptions) => putEventsCommand(file, options, ctx, io)));

  addAwsOptions(
    program
      .command('query')
      .description(
        'Query the event archive with Athena (or the local runtime), print rows, data scanned and cost',
      )
      .argument('[sql]', 'SQL text; ? placeholders take --param values in order'),
  )
    .option('--named <name>', 'run a named query (see --list)')
    .option(
      '--param <k=v>',
      'execution parameter (repeatable): name=value for named queries, value for SQL',
      collect,
      [],
    )
    .addOption(
      new Option('--format <format>', 'output format').choices(['table', 'csv', 'json']).default('table'),
    )
    .option('--list', 'list the named queries and their parameters')
    .option('--database <name>', 'Glue database (default: inferbus_<stage>)')
    .option('--workgroup <name>', 'Athena workgroup (default: inferbus-<stage>)')
    .option('--max-rows <n>', 'stop reading results after N rows', positive)
    .addHelpText(
      'after',
      `\nParameters are passed to Athena as ExecutionParameters, never spliced into the SQL text.

Examples:
  inferbus query --list
  inferbus query --named hourly-tier-volume --param from=2026-11-01 --param to=2026-11-30
  inferbus query "SELECT detail_type, count(*) AS n FROM events WHERE dt = ? GROUP BY 1" --param 2026-11-28 --format csv`,
    )
    .action(
      aws((ctx, sql: string | undefined, options: QueryOptions) => queryCommand(sql, options, ctx, io)),
    );

  const dlq = program
    .command('dlq')
    .description('Dead-letter queues: counts, messages with their error attributes, redrive')
    .addHelpText(
      'after',
      '\nExamples:\n  inferbus dlq list --local\n  inferbus dlq show Tier1TenantAcmeWorkDlq --limit 5\n  inferbus dlq redrive Tier1TenantAcmeWorkDlq',
    );
  addAwsOptions(dlq.command('list').description('Every DLQ of the stage with its message count'))
    .addOption(
      new Option('--format <format>', 'output format').choices(['table', 'csv', 'json']).default('table'),
    )
    .addHelpText('after', '\nExample:\n  inferbus dlq list --stage prod --region eu-west-1')
    .action(aws((ctx, options: { format: OutputFormat }) => dlqList(ctx, io, options.format)));
  addAwsOptions(
    dlq
      .command('show')
      .description('Messages of one DLQ with their error attributes (a peek: nothing is deleted)')
      .argument('<name>', 'DLQ name as `dlq list` prints it, its full name, URL or ARN'),
  )
    .option('--limit <n>', 'at most N messages', positive, 10)
    .addOption(
      new Option('--format <format>', 'output format').choices(['table', 'csv', 'json']).default('table'),
    )
    .addHelpText('after', '\nExample:\n  inferbus dlq show Tier1TenantAcmeWorkDlq --limit 20 --format json')
    .action(
      aws((ctx, name: string, options: { limit: number; format: OutputFormat }) =>
        dlqShow(ctx, io, name, options.limit, options.format),
      ),
    );
  addAwsOptions(
    dlq
      .command('redrive')
      .description(
        'Send a DLQ back: handler DLQs to their work queue (SQS message move), rule-target DLQs to the bus',
      )
      .argument('<name>', 'DLQ name as `dlq list` prints it'),
  )
    .option('--to <source>', 'destination queue (handler DLQs) or bus (rule-target DLQs)')
    .option('--rate <n>', 'messages per second (handler DLQs)', positive)
    .addHelpText(
      'after',
      `\nRule-target DLQs are not fed by an SQS queue, so message-move cannot serve them: their events are put back
on the bus with detail.metadata.redriven = "true" (rules still match) and deleted only once PutEvents accepted them.

Examples:
  inferbus dlq redrive Tier1TenantAcmeWorkDlq
  inferbus dlq redrive Tier1TenantAcmeRuleDlq --local`,
    )
    .action(
      aws((ctx, name: string, options: { to?: string; rate?: number }) => dlqRedrive(ctx, io, name, options)),
    );

  addAwsOptions(
    program
      .command('trace')
      .description(
        'The whole path of one event: accepted, tier-1 result or escalation, tier-2 result, failures, DLQ entries, archive rows',
      )
      .argument('<event-id>', 'the envelope id (detail.id) of the request, or of one of its results'),
  )
    .option(
      '--tenant <id>',
      "the request's tenant (envelope ids are unique per tenant; needed when tenants share the id)",
    )
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--since <day>', 'first archive day (partition dt) searched, yyyy-MM-dd (default: 7 days ago)')
    .option('--dlq-scan <n>', 'read at most N messages of each DLQ', positive, 1000)
    .option('--database <name>', 'Glue database (default: inferbus_<stage>)')
    .option('--workgroup <name>', 'Athena workgroup (default: inferbus-<stage>)')
    .addHelpText(
      'after',
      `\nThe archive is queried with the id as an Athena execution parameter; every DLQ of the stage is read
with VisibilityTimeout 0 (a peek: nothing is deleted). Exit code 1 when nothing is found, 2 when
the id belongs to several tenants and --tenant is missing. A result id (<tenant>:<id>:t1:completed)
names its tenant itself.

Examples:
  inferbus trace 0b6f7c52-4a1e-4c55-9f57-1d2a7e0c9a10 --local
  inferbus trace coll-1 --tenant acme --local
  inferbus trace poison-1 --stage prod --region eu-west-1 --since 2026-11-01 --format json`,
    )
    .action(aws((ctx, id: string, options: TraceOptions) => traceCommand(id, options, ctx, io)));

  addAwsOptions(
    program
      .command('replay')
      .description(
        'Backtest: run archived requests through the current or a candidate manifest on this machine (writes nothing to AWS)',
      ),
  )
    .option('--query <sql>', 'SQL selecting requests: must return payload and envelope_id (see below)')
    .option('--named <name>', 'a named query (inferbus query --list) instead of --query')
    .option('--param <k=v>', 'execution parameter (repeatable), as for inferbus query', collect, [])
    .option('--task <id>', 'a task to replay (repeatable; default: every task of the stage)', collect, [])
    .option(
      '--manifest <file>',
      'candidate manifest.json of one task (model files beside it), compared with models/<task>/manifest.json',
    )
    .option(
      '--threshold <x>',
      "cascade threshold of every tier but the last, in [1/K, 1] for the task's K labels: the candidate's, or the current manifest's without --manifest",
      threshold,
    )
    .option('--limit <n>', 'replay at most N requests', positive)
    .option('--batch-size <n>', 'inputs per model call', positive, 64)
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('--tier1-memory <mib>', 'tier-1 Lambda memory for the cost (default: from cdk.out)', positive)
    .option('--tier2-memory <mib>', 'tier-2 Lambda memory for the cost (default: from cdk.out)', positive)
    .option('--cdk-out <dir>', 'synthesized app holding inferbus-<stage>.template.json (default: ./cdk.out)')
    .option('--database <name>', 'Glue database (default: inferbus_<stage>)')
    .option('--workgroup <name>', 'Athena workgroup (default: inferbus-<stage>)')
    .addHelpText(
      'after',
      `\nThe query must return the columns payload (the request's JSON: text, features, or a claim check read
from the claims bucket when S3 can be reached, else skipped) and envelope_id; optionally task (a row
without one is the stage's first task's), served_label (or label), served_tier (or tier) and
expected_label. Without --query/--named: the day's InferenceRequested rows joined with their final
InferenceCompleted result (--param day=yyyy-MM-dd, default today UTC). Each task replays through its
tiers: the current manifest (models/<task>/manifest.json) at the stage's served thresholds; a candidate
at its own (or --threshold). Figures are per task.
Cost: per-event compute measured here x Lambda arm64 GB-second list price (functions/core/pricing.ts).

Examples:
  inferbus replay --local
  inferbus replay --local --task sensor
  inferbus replay --param day=2026-11-28 --manifest ../candidate/manifest.json --threshold 0.95
  inferbus replay --query "SELECT envelope_id, payload, expected_label FROM events WHERE dt = ? AND detail_type = 'InferenceRequested'" --param 2026-11-28`,
    )
    .action(aws((ctx, options: ReplayOptions) => replayCommand(options, ctx, io)));

  program
    .command('cost')
    .description(
      'Dollars per million requests for a stage, per task and in all: the cascade against sending everything to the last tier',
    )
    .option('--stage <name>', 'stage whose synthesized template to price', 'dev')
    .option('--task <id>', 'a task to price (repeatable; default: every task of the stage)', collect, [])
    .option(
      '--requests-per-second <n>',
      "the stage's steady request rate, spread evenly over its tasks (provisioned concurrency is priced over it)",
      positive,
      20,
    )
    .option(
      '--escalation-rate <x>',
      "share escalated to tier 2, 0..1, for every task priced (default: each task's, measured at the stage threshold)",
      rate,
    )
    .option('--format <format>', 'table or json', 'table')
    .option('--no-pack', 'price unpacked traffic only (one request per entry)')
    .option('--pack-max <n>', 'packing policy priced: most requests per entry (as put-events)', positive)
    .option('--pack-bytes <n>', 'packing policy priced: most bytes per entry (as put-events)', positive)
    .addOption(
      new Option('--codec <codec>', 'packing policy priced: codec (as put-events)').choices(['zstd', 'json']),
    )
    .addHelpText(
      'after',
      `\nPacked traffic (the producers' default) is priced beside unpacked: requests per entry come from
packing each task's held-out inputs with the policy, as the producers do.

Examples:
  inferbus cost --stage prod --requests-per-second 500
  inferbus cost --task sensor --format json
  inferbus cost --codec json --pack-max 50`,
    )
    .action(async (options: CostOptions) => setExitCode(await costCommand(options, io)));

  const events = program.command('events').description('Sample events');
  events
    .command('sample')
    .description(
      "NDJSON envelopes from each task's held-out test split, tasks in turn (like sam local generate-event)",
    )
    .option('--tenant <id>', 'one tenant (default: acme, globex and initech in turn)')
    .option('--task <id>', 'a task to sample (repeatable; default: every task of the dev stage)', collect, [])
    .option('--count <n>', 'how many', positive, 10)
    .option('--entries', 'print raw PutEvents entries instead of envelopes')
    .option('--bus <name>', 'EventBusName of --entries', 'inferbus-dev')
    .option(
      '--seed <n>',
      "another draw with the same label mix (each task's examples are stratified by label)",
      seed,
      1,
    )
    .addHelpText(
      'after',
      '\nExample:\n  inferbus events sample --tenant acme --count 100 | inferbus put-events --local -',
    )
    .action(
      async (options: {
        tenant?: string;
        task: string[];
        count: number;
        entries?: boolean;
        bus: string;
        seed: number;
      }) => setExitCode(await eventsSampleCommand(options, io)),
    );

  addModelsCommand(program, io, setExitCode);

  program.addOption(new Option('--no-color', 'plain output').hideHelp());
  return program;
}

function rate(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || parsed > 1)
    throw new InvalidArgumentError('expected a number from 0 to 1');
  return parsed;
}

function seed(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0)
    throw new InvalidArgumentError('expected a whole number >= 0');
  return parsed;
}

function positive(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError('expected a positive number');
  return parsed;
}

function threshold(value: string): number {
  const parsed = Number(value);
  // The lower bound is 1/K for a task of K labels: checked once the task is known.
  if (!Number.isFinite(parsed) || parsed <= 0 || parsed > 1)
    throw new InvalidArgumentError('expected a number in (0, 1]: at least 1/K for a task of K labels');
  return parsed;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535)
    throw new InvalidArgumentError('expected a port number from 0 to 65535 (0 = any free port)');
  return parsed;
}

function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0)
    throw new InvalidArgumentError('expected a non-negative integer');
  return parsed;
}

function json(flag: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`${flag} is not valid JSON: ${(error as Error).message}`, ExitCode.Usage);
  }
}
