import { arch } from 'node:os';
import { relative, resolve } from 'node:path';
import * as z from 'zod/mini';
import { ARCHIVE_TABLE_NAME } from '../../functions/core/archive/columns';
import type { NamedQueryDefinition } from '../../functions/core/archive/named-queries';
import { claimCheckSchema } from '../../functions/core/inference';
import {
  cpuShare,
  describeLambdaPrice,
  type LambdaArchitecture,
  lambdaDurationUsd,
} from '../../functions/core/pricing';
import type { TaskInput } from '../../functions/core/task/inputs';
import type { ModelScorer } from '../../functions/inference/model';
import { classifyError } from '../../functions/producer/errors';
import { QueryFailedError, runQuery, sqlLiteral } from '../../functions/shared/athena-query';
import { S3ClaimResolver } from '../../functions/shared/claims';
import type { AwsContext } from '../context';
import { parseDay } from '../dates';
import { CliError, ExitCode } from '../errors';
import type { CliIO } from '../io';
import { readStageDeployment, type StageDeployment } from '../stage-template';
import { runTaskCascade } from '../task-cascade';
import {
  availableTasks,
  type CascadePlan,
  chooseTasks,
  deployedTiers,
  loadPlanScorers,
  manifestPathOf,
  planCascade,
  readManifestFile,
} from '../task-plan';
import {
  describeSpread,
  TIMED_RUNS,
  type Timed,
  type TimingSpread,
  timeRounds,
  WARMUP_RUNS,
} from '../timing';
import { countPlaceholders, executionParameters, findNamedQuery } from './query';

export interface ReplayOptions {
  readonly query?: string;
  readonly named?: string;
  readonly param: string[];
  /** Tasks to replay (repeatable); default: every task of the stage. */
  readonly task: string[];
  readonly manifest?: string;
  readonly threshold?: number;
  readonly limit?: number;
  readonly batchSize: number;
  readonly format: 'table' | 'json';
  readonly cdkOut?: string;
  readonly tier1Memory?: number;
  readonly tier2Memory?: number;
  readonly database?: string;
  readonly workgroup?: string;
}

/**
 * The default selection: one day's requests (`--param day=yyyy-MM-dd`, default today, UTC) with their
 * task and the final result that was served for each (the highest tier's InferenceCompleted),
 * de-duplicated by envelope id. Both `?` are the day: results are searched from that day on.
 */
export const DEFAULT_REPLAY_QUERY: NamedQueryDefinition = {
  name: 'replay-default',
  description: "The day's InferenceRequested rows joined with their final InferenceCompleted result",
  params: [
    { name: 'day', description: 'the day of the requests, yyyy-MM-dd (partition dt)' },
    { name: 'day', description: 'the same day: results are read from that day on' },
  ],
  sql: `WITH requests AS (
  SELECT envelope_id, max(task) AS task, max(payload) AS payload, max(expected_label) AS expected_label
  FROM ${ARCHIVE_TABLE_NAME}
  WHERE dt = ? AND detail_type = 'InferenceRequested'
  GROUP BY envelope_id
), results AS (
  SELECT source_event_id, max(tier) AS served_tier, max_by(label, tier) AS served_label
  FROM ${ARCHIVE_TABLE_NAME}
  WHERE dt >= ? AND detail_type = 'InferenceCompleted'
  GROUP BY source_event_id
)
SELECT q.envelope_id, q.task, q.payload, q.expected_label, r.served_label, r.served_tier
FROM requests q LEFT JOIN results r ON r.source_event_id = q.envelope_id
ORDER BY q.envelope_id`,
};

/** A request ready to replay. */
interface Item {
  readonly id: string;
  readonly task: string;
  readonly input: TaskInput;
  readonly servedLabel?: string;
  readonly servedTier?: number;
  readonly expectedLabel?: string;
}

/** What replay reads of an archived request's payload: the input, and the label the producer knew. */
const replayPayloadSchema = z
  .object({
    text: z.optional(z.string()),
    claim: z.optional(claimCheckSchema),
    features: z.optional(z.array(z.number())),
    expectedLabel: z.optional(z.string()),
  })
  .check(
    z.refine((p) => [p.text, p.claim, p.features].filter((v) => v !== undefined).length === 1, {
      message: 'payload needs exactly one of "text", "claim" or "features"',
    }),
  );

export interface ReplayRun {
  readonly role: 'current' | 'candidate';
  readonly task: string;
  readonly manifest: string;
  /** Model names, tier 1 first. */
  readonly models: readonly string[];
  /** One per tier but the last. */
  readonly thresholds: readonly number[];
  readonly thresholdFrom: string;
  readonly events: number;
  /** Events an encoder refused (the service dead-letters them): no answer. */
  readonly rejected: number;
  /** Events tier 1 escalated (reached tier 2). */
  readonly escalations: number;
  readonly escalationRate: number;
  /** Events that reached each tier (tier 1: all). */
  readonly reachedByTier: readonly number[];
  readonly agreement: { readonly same: number; readonly compared: number; readonly rate: number | null };
  readonly tierAgreement: { readonly same: number; readonly compared: number; readonly rate: number | null };
  readonly accuracy: { readonly correct: number; readonly labelled: number; readonly rate: number | null };
  /** Median ms per event of each tier's model, tier 1 first. */
  readonly msPerEvent: readonly number[];
  /**
   * What each tier was timed on: the events that reached it, topped up with other replayed events
   * (its time is needed for the cost even when few or none escalated).
   */
  readonly tierTiming: readonly (
    | 'all replayed events'
    | 'escalated events'
    | 'escalated events and a sample'
    | 'sample'
  )[];
  /** ms per event of each tier's model over the timed runs. */
  readonly timing: readonly TimingSpread[];
  readonly costPerMillionUsd: {
    readonly totalUsd: number;
    /** Per tier: its duration cost times the share of events that reach it. */
    readonly byTierUsd: readonly number[];
    /** Every event answered by the last tier alone. */
    readonly allLastTierUsd: number;
  };
}

export interface ReplayTaskReport {
  readonly task: string;
  readonly replayed: number;
  readonly runs: readonly ReplayRun[];
  /** Labels that differ between current and candidate (with --manifest). */
  readonly changedLabels?: number;
}

interface Plan extends CascadePlan {
  readonly role: 'current' | 'candidate';
}

export async function replayCommand(options: ReplayOptions, ctx: AwsContext, io: CliIO): Promise<ExitCode> {
  // 1. Everything that can be checked on this machine, before any AWS call.
  if (options.query !== undefined && options.named !== undefined) {
    throw new CliError('pass --query SQL or --named NAME, not both', ExitCode.Usage);
  }
  const named = options.named !== undefined ? findNamedQuery(options.named) : undefined;
  const sql = named?.sql ?? options.query ?? DEFAULT_REPLAY_QUERY.sql;
  const parameters =
    options.query !== undefined || named
      ? executionParameters(named, options.param)
      : defaultQueryParameters(options.param);
  const placeholders = countPlaceholders(sql);
  if (placeholders !== parameters.length) {
    throw new CliError(
      `the query has ${placeholders} ? placeholder(s) but ${parameters.length} --param value(s) were given`,
      ExitCode.Usage,
    );
  }
  const deployment = readStageDeployment(ctx.names.stackName, options.cdkOut);
  const candidatePath = options.manifest ? resolve(options.manifest) : undefined;
  const candidate = candidatePath ? await readManifestFile(candidatePath) : undefined;
  const available = availableTasks(deployment);
  // A candidate replays its own task unless --task says otherwise.
  const tasks = chooseTasks(
    options.task.length > 0 ? options.task : candidate ? [candidate.task.id] : [],
    available.tasks,
    available.from,
  );
  if (candidate && !tasks.includes(candidate.task.id)) {
    throw new CliError(
      `--manifest ${candidatePath} is a manifest of task ${candidate.task.id}; --task ${tasks.join(', ')} does not include it`,
      ExitCode.Usage,
    );
  }
  /** The task of archived requests that name none: the stage's first. */
  const firstTask = deployment ? [...deployment.tasks.keys()][0] : undefined;
  const plans = new Map<string, Plan[]>();
  for (const task of tasks) {
    const currentPath = manifestPathOf(task);
    const current = await readManifestFile(currentPath);
    const candidateHere = candidate?.task.id === task ? candidate : undefined;
    plans.set(task, [
      {
        role: 'current',
        ...planCascade(currentPath, current, deployment, {
          override: candidateHere ? undefined : options.threshold,
          useStageThresholds: true,
        }),
      },
      ...(candidateHere && candidatePath
        ? [
            {
              role: 'candidate' as const,
              ...planCascade(candidatePath, candidateHere, deployment, {
                override: options.threshold,
                useStageThresholds: false,
              }),
            },
          ]
        : []),
    ]);
  }
  // Load (and sha256-verify) every model before querying: a bad candidate fails in a second.
  const scorers = new Map<Plan, ModelScorer[]>();
  try {
    for (const plan of [...plans.values()].flat()) scorers.set(plan, await loadPlanScorers(plan));

    // 2. The archived requests.
    await ctx.preflight();
    const workGroup = options.workgroup ?? ctx.names.workGroupName;
    const database = options.database ?? ctx.names.databaseName;
    const result = await runQuery(ctx.athena(), workGroup, database, sql, parameters, {
      maxRows: options.limit,
      onPoll: (state, waited) => {
        if (waited > 5_000 && state !== 'SUCCEEDED')
          io.err(`replay: query ${state} after ${Math.round(waited / 1000)} s`);
      },
    }).catch((error) => {
      if (error instanceof QueryFailedError) throw new CliError(error.message, ExitCode.Failed);
      throw ctx.explain(error);
    });
    const missing = ['payload', 'envelope_id'].filter((c) => !result.columns.includes(c));
    if (missing.length > 0) {
      throw new CliError(
        `the query must return the columns payload and envelope_id (of InferenceRequested rows); it returned ` +
          `${result.columns.join(', ') || 'no columns'}, missing ${missing.join(' and ')}. ` +
          'Optional columns: task, served_label (or label), served_tier (or tier), expected_label. Run without --query for the default',
        ExitCode.Usage,
      );
    }
    const rows = options.limit !== undefined ? result.rows.slice(0, options.limit) : result.rows;
    if (rows.length === 0) {
      throw new CliError(
        `the query returned no rows (query ${result.queryExecutionId}); nothing to replay. ` +
          'The default query reads one day: pass --param day=yyyy-MM-dd',
        ExitCode.Failed,
      );
    }

    // 3. Inputs: inline, or from the claims bucket when it can be reached.
    const { items, skipped } = await prepare(rows, ctx, new Set(tasks), firstTask);
    if (items.length === 0) {
      throw new CliError(
        `none of the ${rows.length} row(s) could be replayed for task(s) ${tasks.join(', ')}: ${describeSkipped(skipped)}`,
        ExitCode.Failed,
      );
    }

    // 4. Replay on this machine through each plan's tiers, untimed; then time every model in
    // alternating rounds, so current and candidate (and the tasks) see the same machine.
    const work: { plan: Plan; items: Item[]; decided: Decided; subjects: TierSubject[] }[] = [];
    for (const [task, taskPlans] of plans) {
      const taskItems = items.filter((i) => i.task === task);
      if (taskItems.length === 0) continue;
      for (const plan of taskPlans) {
        const tierScorers = scorers.get(plan) as ModelScorer[];
        const outcome = await runTaskCascade(
          tierScorers,
          plan.thresholds,
          taskItems.map((i) => i.input),
          options.batchSize,
        );
        work.push({
          plan,
          items: taskItems,
          decided: outcome,
          subjects: timingSubjects(tierScorers, taskItems, outcome.reached, options.batchSize),
        });
      }
    }
    const spreads = await timeRounds(work.flatMap((w) => w.subjects.map((s) => s.timed)));
    let at = 0;
    const reports: ReplayTaskReport[] = [];
    for (const task of tasks) {
      const runs = work
        .filter((w) => w.plan.task === task)
        .map((w) => {
          const timing = w.subjects.map(() => spreads[at++] as TimingSpread);
          return summarizeRun(w.plan, w.items, w.decided, timing, w.subjects, deployment, options);
        });
      if (runs.length === 0) continue;
      const answers = work.filter((w) => w.plan.task === task).map((w) => w.decided.answers);
      const changedLabels =
        answers.length === 2
          ? (answers[0] ?? []).filter((a, i) => a?.label !== answers[1]?.[i]?.label).length
          : undefined;
      reports.push({
        task,
        replayed: runs[0]?.events ?? 0,
        runs,
        ...(changedLabels !== undefined ? { changedLabels } : {}),
      });
    }
    const architecture: LambdaArchitecture =
      [...(deployment?.tasks.values() ?? [])][0]?.get(1)?.architecture ?? 'arm64';
    const pricing = {
      price: describeLambdaPrice(architecture),
      memoryMiB: Object.fromEntries(
        reports.map((r) => [r.task, memoryOf(r.task, r.runs[0]?.models.length ?? 2, deployment, options)]),
      ),
      measuredOn: `this machine (${arch()}, 1 intra-op thread; median of ${TIMED_RUNS} timed runs after ${WARMUP_RUNS} warm-up), scaled by the CPU share of each memory size; duration only, no request charges`,
    };

    if (options.format === 'json') {
      io.out(
        JSON.stringify({
          queryExecutionId: result.queryExecutionId,
          rows: rows.length,
          replayed: items.length,
          skipped,
          tasks: reports,
          pricing,
          wroteToAws: false,
        }),
      );
    } else {
      io.out(
        `replay: ${items.length} of ${rows.length} archived request(s) replayed on this machine` +
          `${skippedTotal(skipped) > 0 ? `; skipped ${describeSkipped(skipped)}` : ''} (query ${result.queryExecutionId})`,
      );
      for (const report of reports) {
        io.out('');
        io.out(`task ${report.task}: ${report.replayed} request(s)`);
        for (const line of sideBySide(report.runs)) io.out(`  ${line}`);
        if (report.changedLabels !== undefined)
          io.out(
            `  labels that change from current to candidate: ${report.changedLabels} of ${report.replayed}`,
          );
        const memory = pricing.memoryMiB[report.task];
        if (memory)
          io.out(`  memory per tier: ${memory.memoryMiB.map((m) => `${m} MB`).join(', ')} (${memory.from})`);
      }
      io.out('');
      io.out(`cost: ${pricing.price}; per-event compute measured on ${pricing.measuredOn}.`);
      io.out('Nothing was written to AWS.');
    }
    return ExitCode.Ok;
  } finally {
    for (const s of scorers.values()) await Promise.all(s.map((scorer) => scorer.release()));
  }
}

function defaultQueryParameters(params: readonly string[]): string[] {
  let day = new Date().toISOString().slice(0, 10);
  for (const p of params) {
    if (!p.startsWith('day=')) {
      throw new CliError(
        `--param ${JSON.stringify(p)}: the default query takes only day=yyyy-MM-dd (pass --query or --named for others)`,
        ExitCode.Usage,
      );
    }
    day = parseDay('--param day', p.slice('day='.length));
  }
  return [sqlLiteral(day), sqlLiteral(day)];
}

type Skipped = Record<string, number>;
const skippedTotal = (s: Skipped) => Object.values(s).reduce((a, b) => a + b, 0);
const describeSkipped = (s: Skipped) =>
  Object.entries(s)
    .map(([why, n]) => `${n} ${why}`)
    .join(', ');

async function prepare(
  rows: readonly Record<string, string | null>[],
  ctx: AwsContext,
  tasks: ReadonlySet<string>,
  firstTask: string | undefined,
): Promise<{ items: Item[]; skipped: Skipped }> {
  const skipped: Skipped = {};
  const skip = (why: string) => {
    skipped[why] = (skipped[why] ?? 0) + 1;
  };
  const claims = new S3ClaimResolver(ctx.s3());
  let s3Unreachable = false;
  const items: (Item | undefined)[] = [];
  const pending: Promise<void>[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    const id = row.envelope_id ?? '';
    if (!id || seen.has(id)) {
      if (id) skip('duplicate row(s)');
      else skip('row(s) without envelope_id');
      continue;
    }
    seen.add(id);
    // A request that names no task belongs to the stage's first task.
    const task = row.task ?? firstTask;
    if (task === undefined) {
      skip('row(s) without a task (no synthesized stage template says which task is first)');
      continue;
    }
    if (!tasks.has(task)) {
      skip('row(s) of other tasks');
      continue;
    }
    // The archive keeps a request's payload only when it has text, a claim or features (archive/rules.ts).
    if (row.payload === null || row.payload === undefined) {
      skip('row(s) whose payload is not an inference request');
      continue;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(row.payload);
    } catch {
      skip('row(s) whose payload is not JSON');
      continue;
    }
    const request = replayPayloadSchema.safeParse(payload);
    if (!request.success) {
      skip('row(s) whose payload is not an inference request');
      continue;
    }
    const served = {
      id,
      task,
      servedLabel: row.served_label ?? row.label ?? undefined,
      servedTier: (row.served_tier ?? row.tier) ? Number(row.served_tier ?? row.tier) : undefined,
      expectedLabel: row.expected_label ?? request.data.expectedLabel ?? undefined,
    };
    const { text, features, claim } = request.data;
    if (text !== undefined || features !== undefined) {
      items.push({ ...served, input: text !== undefined ? { text } : { features: features as number[] } });
      continue;
    }
    const index = items.push(undefined) - 1;
    pending.push(
      (async () => {
        if (s3Unreachable || !claim) return skip('claim check(s) whose text could not be read from S3');
        try {
          items[index] = { ...served, input: { text: await claims.resolve(claim) } };
        } catch (error) {
          if (classifyError(error) === 'unreachable') s3Unreachable = true;
          skip('claim check(s) whose text could not be read from S3');
        }
      })(),
    );
    if (pending.length >= 8) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  return { items: items.filter((i): i is Item => i !== undefined), skipped };
}

/** At most this many events per timing run of each model: enough for a stable per-event median. */
const TIMING_EVENTS = 256;

type Decided = Awaited<ReturnType<typeof runTaskCascade>>;

interface TierSubject {
  readonly timed: Timed;
  readonly on: ReplayRun['tierTiming'][number];
}

/**
 * What each tier is timed on: tier 1 on the replayed events; a later tier on the ones that reached
 * it, topped up with other replayed events to as many as tier 1 runs (its time is needed for the
 * cost even when few or none escalated, and a run of 5 events times batch overhead, not the model).
 */
function timingSubjects(
  scorers: readonly ModelScorer[],
  items: readonly Item[],
  reached: readonly (readonly number[])[],
  batchSize: number,
): TierSubject[] {
  const size = Math.min(TIMING_EVENTS, items.length);
  return scorers.map((scorer, t) => {
    const reachedHere = new Set((reached[t] ?? []).slice(0, size));
    const inputs =
      t === 0
        ? items.slice(0, size).map((i) => i.input)
        : [
            ...[...reachedHere].map((i) => (items[i] as Item).input),
            ...items
              .filter((_, i) => !reachedHere.has(i))
              .slice(0, size - reachedHere.size)
              .map((i) => i.input),
          ];
    const run = async () => {
      for (let start = 0; start < inputs.length; start += batchSize)
        await scorer.score(inputs.slice(start, start + batchSize));
    };
    const on: TierSubject['on'] =
      t === 0
        ? 'all replayed events'
        : reachedHere.size === 0
          ? 'sample'
          : reachedHere.size < size
            ? 'escalated events and a sample'
            : 'escalated events';
    return { timed: { run, events: inputs.length }, on };
  });
}

function summarizeRun(
  plan: Plan,
  items: readonly Item[],
  { answers, rejected, reached }: Decided,
  timing: readonly TimingSpread[],
  subjects: readonly TierSubject[],
  deployment: StageDeployment | undefined,
  options: ReplayOptions,
): ReplayRun {
  const agreement = { same: 0, compared: 0 };
  const tierAgreement = { same: 0, compared: 0 };
  const accuracy = { correct: 0, labelled: 0 };
  items.forEach((item, i) => {
    const answer = answers[i];
    if (item.servedLabel) {
      agreement.compared++;
      if (item.servedLabel === answer?.label) agreement.same++;
    }
    if (item.servedTier !== undefined && Number.isFinite(item.servedTier)) {
      tierAgreement.compared++;
      if (item.servedTier === answer?.tier) tierAgreement.same++;
    }
    if (item.expectedLabel) {
      accuracy.labelled++;
      if (item.expectedLabel === answer?.label) accuracy.correct++;
    }
  });
  const rate = (a: number, b: number) => (b > 0 ? a / b : null);
  const reachedByTier = reached.map((r) => r.length);
  const escalations = reachedByTier[1] ?? 0;
  const memory = memoryOf(plan.task, plan.models.length, deployment, options).memoryMiB;
  const architecture = deployedTiers(deployment, plan.task)?.[0]?.architecture ?? 'arm64';
  // Priced at the median run: one slow run (GC, a neighbour's burst) must not move it.
  const usdPerEvent = timing.map((t, i) => {
    const mem = memory[i] ?? 2048;
    return lambdaDurationUsd(t.median / cpuShare(mem), mem, architecture);
  });
  const million = 1_000_000;
  const byTierUsd = usdPerEvent.map((usd, i) => usd * ((reachedByTier[i] ?? 0) / items.length) * million);
  return {
    role: plan.role,
    task: plan.task,
    manifest: plan.manifestPath,
    models: plan.models,
    thresholds: plan.thresholds,
    thresholdFrom: plan.thresholdFrom,
    events: items.length,
    rejected: rejected.size,
    escalations,
    escalationRate: escalations / items.length,
    reachedByTier,
    agreement: { ...agreement, rate: rate(agreement.same, agreement.compared) },
    tierAgreement: { ...tierAgreement, rate: rate(tierAgreement.same, tierAgreement.compared) },
    accuracy: { ...accuracy, rate: rate(accuracy.correct, accuracy.labelled) },
    msPerEvent: timing.map((t) => t.median),
    tierTiming: subjects.map((s) => s.on),
    timing,
    costPerMillionUsd: {
      totalUsd: byTierUsd.reduce((a, b) => a + b, 0),
      byTierUsd,
      allLastTierUsd: (usdPerEvent.at(-1) ?? 0) * million,
    },
  };
}

/** Memory of each tier of a task: the flags (tiers 1 and 2), the stage template, or assumed defaults. */
function memoryOf(
  task: string,
  tiers: number,
  deployment: StageDeployment | undefined,
  options: ReplayOptions,
): { memoryMiB: number[]; from: string } {
  const deployed = deployedTiers(deployment, task);
  const from = new Set<string>();
  const memoryMiB = Array.from({ length: tiers }, (_, i) => {
    const flag = i === 0 ? options.tier1Memory : i === 1 ? options.tier2Memory : undefined;
    if (flag !== undefined) {
      from.add(`--tier${i + 1}-memory`);
      return flag;
    }
    const mem = deployed?.[i]?.memoryMiB;
    if (mem !== undefined) {
      from.add(shown(deployment?.templatePath ?? 'template'));
      return mem;
    }
    from.add('assumed; no synthesized template found (cdk synth)');
    return i === 0 ? 1024 : 2048;
  });
  return { memoryMiB, from: [...from].join(' / ') };
}

function sideBySide(runs: readonly ReplayRun[]): string[] {
  const pct = (r: number | null) => (r === null ? 'n/a' : `${(r * 100).toFixed(2)}%`);
  const usd = (v: number) => `$${v < 1 ? v.toFixed(4) : v.toFixed(2)}`;
  const tiers = Math.max(...runs.map((r) => r.models.length));
  const rows: [string, (r: ReplayRun) => string][] = [
    ['manifest', (r) => shown(r.manifest)],
    ['models', (r) => r.models.join(' -> ')],
    ['thresholds', (r) => `${r.thresholds.join(', ') || 'none (one tier)'} (${r.thresholdFrom})`],
    ['events replayed', (r) => String(r.events)],
    ['escalation rate', (r) => `${pct(r.escalationRate)} (${r.escalations}/${r.events})`],
    ...Array.from({ length: Math.max(0, tiers - 2) }, (_, i): [string, (r: ReplayRun) => string] => [
      `reached tier ${i + 3}`,
      (r) => `${r.reachedByTier[i + 2] ?? 0}/${r.events}`,
    ]),
    ['rejected by an encoder', (r) => `${r.rejected}/${r.events}`],
    [
      'agreement with served',
      (r) => `${pct(r.agreement.rate)} (${r.agreement.same}/${r.agreement.compared} labels)`,
    ],
    [
      'same tier as served',
      (r) => `${pct(r.tierAgreement.rate)} (${r.tierAgreement.same}/${r.tierAgreement.compared})`,
    ],
    [
      'accuracy (expected_label)',
      (r) => `${pct(r.accuracy.rate)} (${r.accuracy.correct}/${r.accuracy.labelled} labelled)`,
    ],
    ...Array.from({ length: tiers }, (_, t): [string, (r: ReplayRun) => string] => [
      `tier-${t + 1} ms/event here`,
      (r) => {
        const spread = r.timing[t];
        if (!spread) return '-';
        const on = r.tierTiming[t];
        const note =
          t === 0 || on === 'escalated events'
            ? ''
            : ` (${(r.reachedByTier[t] ?? 0) === 0 ? 'none' : `${r.reachedByTier[t]}`} reached it: timed with other replayed events)`;
        return `${describeSpread(spread)}${note}`;
      },
    ]),
    [
      'compute $/1M events (median)',
      (r) =>
        `${usd(r.costPerMillionUsd.totalUsd)} (${r.costPerMillionUsd.byTierUsd.map((v, i) => `tier ${i + 1} ${usd(v)}`).join(' + ')})`,
    ],
    ['all-last-tier $/1M events', (r) => usd(r.costPerMillionUsd.allLastTierUsd)],
  ];
  const labelWidth = Math.max(...rows.map(([l]) => l.length));
  const cells = rows.map(([, f]) => runs.map(f));
  const widths = runs.map((_, i) =>
    Math.max(runs[i]?.role.length ?? 0, ...cells.map((c) => (c[i] ?? '').length)),
  );
  const line = (label: string, values: readonly string[]) =>
    `${label.padEnd(labelWidth)}  ${values.map((v, i) => v.padEnd(widths[i] as number)).join('  ')}`.trimEnd();
  return [
    line(
      '',
      runs.map((r) => r.role),
    ),
    line(
      '-'.repeat(labelWidth),
      widths.map((w) => '-'.repeat(w)),
    ),
    ...rows.map(([label], i) => line(label, cells[i] as string[])),
  ];
}

/** A path relative to the current folder when it lies inside it, else absolute. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}
