import { readFile } from 'node:fs/promises';
import { arch } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { ARCHIVE_TABLE_NAME } from '../../functions/core/archive/columns';
import type { NamedQueryDefinition } from '../../functions/core/archive/named-queries';
import { decide, inferenceRequestSchema, type Label } from '../../functions/core/inference';
import { type CascadeEntry, type Manifest, manifestSchema } from '../../functions/core/manifest';
import {
  type CascadeComputeCost,
  cascadeComputePerMillion,
  describeLambdaPrice,
  type LambdaArchitecture,
} from '../../functions/core/pricing';
import { loadModel, type ModelScorer } from '../../functions/inference/model';
import { classifyError } from '../../functions/producer/errors';
import { QueryFailedError, runQuery, sqlLiteral } from '../../functions/shared/athena-query';
import { S3ClaimResolver } from '../../functions/shared/claims';
import type { AwsContext } from '../context';
import { parseDay } from '../dates';
import { CliError, ExitCode } from '../errors';
import type { CliIO } from '../io';
import { PACKAGE_ROOT, readStageDeployment, type StageDeployment } from '../stage-template';
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

/** The manifest the stage serves: the project's `models/manifest.json`. */
export const CURRENT_MANIFEST = join(PACKAGE_ROOT, 'models', 'manifest.json');

/**
 * The default selection: one day's requests (`--param day=yyyy-MM-dd`, default today, UTC) with the
 * final result that was served for each (the highest tier's InferenceCompleted), de-duplicated by
 * envelope id. Both `?` are the day: results are searched from that day on.
 */
export const DEFAULT_REPLAY_QUERY: NamedQueryDefinition = {
  name: 'replay-default',
  description: "The day's InferenceRequested rows joined with their final InferenceCompleted result",
  params: [
    { name: 'day', description: 'the day of the requests, yyyy-MM-dd (partition dt)' },
    { name: 'day', description: 'the same day: results are read from that day on' },
  ],
  sql: `WITH requests AS (
  SELECT envelope_id, max(payload) AS payload, max(expected_label) AS expected_label
  FROM ${ARCHIVE_TABLE_NAME}
  WHERE dt = ? AND detail_type = 'InferenceRequested'
  GROUP BY envelope_id
), results AS (
  SELECT source_event_id, max(tier) AS served_tier, max_by(label, tier) AS served_label
  FROM ${ARCHIVE_TABLE_NAME}
  WHERE dt >= ? AND detail_type = 'InferenceCompleted'
  GROUP BY source_event_id
)
SELECT q.envelope_id, q.payload, q.expected_label, r.served_label, r.served_tier
FROM requests q LEFT JOIN results r ON r.source_event_id = q.envelope_id
ORDER BY q.envelope_id`,
};

/** A request ready to replay. */
interface Item {
  readonly id: string;
  readonly text: string;
  readonly servedLabel?: string;
  readonly servedTier?: number;
  readonly expectedLabel?: string;
}

interface Outcome {
  readonly label: Label;
  readonly tier: number;
}

export interface ReplayRun {
  readonly role: 'current' | 'candidate';
  readonly manifest: string;
  readonly models: { readonly tier1: string; readonly tier2: string };
  readonly threshold: number;
  readonly thresholdFrom: string;
  readonly events: number;
  readonly escalations: number;
  readonly escalationRate: number;
  readonly agreement: { readonly same: number; readonly compared: number; readonly rate: number | null };
  readonly tierAgreement: { readonly same: number; readonly compared: number; readonly rate: number | null };
  readonly accuracy: { readonly correct: number; readonly labelled: number; readonly rate: number | null };
  readonly tier1MsPerEvent: number;
  readonly tier2MsPerEvent: number;
  /** What tier 2 was timed on: the escalated events, topped up with other replayed events to 256. */
  readonly tier2Timing: 'escalated events' | 'escalated events and a sample' | 'sample';
  /** ms per event of each model over the timed runs; the medians are tier1MsPerEvent/tier2MsPerEvent. */
  readonly timing: { readonly tier1: TimingSpread; readonly tier2: TimingSpread };
  readonly costPerMillionUsd: CascadeComputeCost;
}

type Scorers = { tier1: ModelScorer; tier2: ModelScorer };

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
  const current = await readManifest(CURRENT_MANIFEST);
  const candidate = options.manifest ? await readManifest(resolve(options.manifest)) : undefined;
  const plans = [
    plan('current', CURRENT_MANIFEST, current, deployment, candidate ? undefined : options.threshold),
    ...(candidate
      ? [plan('candidate', resolve(options.manifest as string), candidate, deployment, options.threshold)]
      : []),
  ];
  // Load (and sha256-verify) every model before querying: a bad candidate fails in a second.
  const scorers = await Promise.all(
    plans.map(async (p) => ({
      tier1: await load(p.path, p.manifest, p.cascade.tier1),
      tier2: await load(p.path, p.manifest, p.cascade.tier2),
    })),
  );

  try {
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
          'Optional columns: served_label (or label), served_tier (or tier), expected_label. Run without --query for the default',
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

    // 3. Texts: inline, or from the claims bucket when it can be reached.
    const { items, skipped } = await prepare(rows, ctx);
    if (items.length === 0) {
      throw new CliError(
        `none of the ${rows.length} row(s) could be replayed: ${describeSkipped(skipped)}`,
        ExitCode.Failed,
      );
    }

    // 4. Replay on this machine, one scoreBatch per batch, through each manifest; then time every
    // model in alternating rounds, so current and candidate see the same machine.
    const decisions: Decided[] = [];
    for (const [i, p] of plans.entries())
      decisions.push(await decideAll(p, scorers[i] as Scorers, items, options.batchSize));
    const subjects = decisions.map((d, i) =>
      timingSubjects(scorers[i] as Scorers, items, d.escalated, options.batchSize),
    );
    const spreads = await timeRounds(subjects.flatMap((s) => [s.tier1, s.tier2]));
    const runs = plans.map((p, i) =>
      summarizeRun(
        p,
        items,
        decisions[i] as Decided,
        { tier1: spreads[2 * i] as TimingSpread, tier2: spreads[2 * i + 1] as TimingSpread },
        (subjects[i] as { tier2Timing: ReplayRun['tier2Timing'] }).tier2Timing,
        deployment,
        options,
      ),
    );
    const outcomes = decisions.map((d) => d.decided);
    const changed =
      outcomes.length === 2
        ? (outcomes[0] as Outcome[]).filter((o, i) => o.label !== (outcomes[1] as Outcome[])[i]?.label).length
        : undefined;
    const t1 = tierMemory(1, deployment, options.tier1Memory);
    const t2 = tierMemory(2, deployment, options.tier2Memory);
    const architecture: LambdaArchitecture = deployment?.tiers.get(1)?.architecture ?? 'arm64';
    const pricing = {
      price: describeLambdaPrice(architecture),
      tier1MemoryMiB: t1.memoryMiB,
      tier2MemoryMiB: t2.memoryMiB,
      memoryFrom: t1.from === t2.from ? t1.from : `${t1.from} / ${t2.from}`,
      measuredOn: `this machine (${arch()}, 1 intra-op thread; median of ${TIMED_RUNS} timed runs after ${WARMUP_RUNS} warm-up), scaled by the CPU share of each memory size; duration only, no request charges`,
    };

    if (options.format === 'json') {
      io.out(
        JSON.stringify({
          queryExecutionId: result.queryExecutionId,
          rows: rows.length,
          replayed: items.length,
          skipped,
          runs,
          ...(changed !== undefined ? { changedLabels: changed } : {}),
          pricing,
          wroteToAws: false,
        }),
      );
    } else {
      io.out(
        `replay: ${items.length} of ${rows.length} archived request(s) replayed on this machine` +
          `${skippedTotal(skipped) > 0 ? `; skipped ${describeSkipped(skipped)}` : ''} (query ${result.queryExecutionId})`,
      );
      io.out('');
      for (const line of sideBySide(runs)) io.out(line);
      if (changed !== undefined)
        io.out(`\nlabels that change from current to candidate: ${changed} of ${items.length}`);
      io.out('');
      io.out(
        `cost: ${pricing.price}; memory tier 1 ${t1.memoryMiB} MB, tier 2 ${t2.memoryMiB} MB (${pricing.memoryFrom}); ` +
          `per-event compute measured on ${pricing.measuredOn}.`,
      );
      io.out('Nothing was written to AWS.');
    }
    return ExitCode.Ok;
  } finally {
    for (const s of scorers) await Promise.all([s.tier1.release(), s.tier2.release()]);
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

async function readManifest(path: string): Promise<Manifest> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new CliError(
      code === 'ENOENT'
        ? `manifest ${path} does not exist (--manifest takes a manifest.json; model files are read relative to it)`
        : `cannot read manifest ${path}: ${(error as Error).message}`,
      ExitCode.Usage,
    );
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new CliError(
      `manifest ${path} is invalid: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : parsed.error.message}`,
      ExitCode.Usage,
    );
  }
  return parsed.data;
}

interface Plan {
  readonly role: 'current' | 'candidate';
  readonly path: string;
  readonly manifest: Manifest;
  readonly cascade: { readonly tier1: string; readonly tier2: string };
  readonly threshold: number;
  readonly thresholdFrom: string;
}

/**
 * Which models and threshold a manifest replays with: the cascade of the models the stage serves
 * (MODEL_NAME in the template, else tier1/tier2) or the manifest's first cascade. The current
 * manifest runs at the threshold the stage serves (its CASCADE_THRESHOLD override, else the
 * manifest's); a candidate at its own manifest's; `--threshold` overrides the one it applies to.
 */
function plan(
  role: Plan['role'],
  path: string,
  manifest: Manifest,
  deployment: StageDeployment | undefined,
  threshold: number | undefined,
): Plan {
  const served1 = deployment?.tiers.get(1)?.modelName ?? 'tier1';
  const served2 = deployment?.tiers.get(2)?.modelName ?? 'tier2';
  const cascade: CascadeEntry | undefined =
    manifest.cascades.find((c) => c.tier1 === served1 && c.tier2 === served2) ??
    manifest.cascades.find((c) => c.tier1 === served1) ??
    manifest.cascades[0];
  const names = cascade ? { tier1: cascade.tier1, tier2: cascade.tier2 } : { tier1: served1, tier2: served2 };
  for (const name of [names.tier1, names.tier2]) {
    if (!manifest.models.some((m) => m.name === name)) {
      throw new CliError(
        `manifest ${path} has no model ${name} (it has ${manifest.models.map((m) => m.name).join(', ')})`,
        ExitCode.Usage,
      );
    }
  }
  const stageThreshold = role === 'current' ? deployment?.tiers.get(1)?.threshold : undefined;
  const chosen =
    threshold !== undefined
      ? { value: threshold, from: '--threshold' }
      : stageThreshold !== undefined
        ? {
            value: stageThreshold,
            from: `stage CASCADE_THRESHOLD, ${shown(deployment?.templatePath ?? 'template')}`,
          }
        : cascade
          ? { value: cascade.threshold, from: 'manifest cascade' }
          : undefined;
  if (!chosen) {
    throw new CliError(`manifest ${path} has no cascade and no --threshold was given`, ExitCode.Usage);
  }
  return { role, path, manifest, cascade: names, threshold: chosen.value, thresholdFrom: chosen.from };
}

async function load(manifestPath: string, manifest: Manifest, name: string): Promise<ModelScorer> {
  try {
    return await loadModel({ modelsDir: dirname(manifestPath), name, manifest, intraOpNumThreads: 1 });
  } catch (error) {
    throw new CliError(
      `cannot load model ${name} of ${manifestPath}: ${(error as Error).message}`,
      ExitCode.Usage,
    );
  }
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
    // The archive keeps a request's payload only when it has text or a claim (archive/rules.ts).
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
    const request = inferenceRequestSchema.safeParse(payload);
    if (!request.success) {
      skip('row(s) whose payload is not an inference request');
      continue;
    }
    const served = {
      servedLabel: row.served_label ?? row.label ?? undefined,
      servedTier: (row.served_tier ?? row.tier) ? Number(row.served_tier ?? row.tier) : undefined,
      expectedLabel: row.expected_label ?? request.data.expectedLabel ?? undefined,
    };
    if (request.data.text !== undefined) {
      items.push({ id, text: request.data.text, ...served });
      continue;
    }
    const claim = request.data.claim;
    const index = items.push(undefined) - 1;
    pending.push(
      (async () => {
        if (s3Unreachable || !claim) return skip('claim check(s) whose text could not be read from S3');
        try {
          items[index] = { id, text: await claims.resolve(claim), ...served };
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

interface Decided {
  readonly decided: Outcome[];
  readonly escalated: number[];
}

/** Every item through tier 1, the unsure ones through tier 2: one scoreBatch per batch, untimed. */
async function decideAll(
  p: Plan,
  scorers: { tier1: ModelScorer; tier2: ModelScorer },
  items: readonly Item[],
  batchSize: number,
): Promise<Decided> {
  const decided: Outcome[] = new Array(items.length);
  const escalated: number[] = [];
  for (let start = 0; start < items.length; start += batchSize) {
    const batch = items.slice(start, start + batchSize);
    const scores = await scorers.tier1.scoreBatch(batch.map((i) => i.text));
    batch.forEach((_, j) => {
      const d = decide(scores[j] as number, p.threshold, false);
      if (d.escalate) escalated.push(start + j);
      else decided[start + j] = { label: d.label, tier: 1 };
    });
  }
  for (let start = 0; start < escalated.length; start += batchSize) {
    const indexes = escalated.slice(start, start + batchSize);
    const scores = await scorers.tier2.scoreBatch(indexes.map((i) => (items[i] as Item).text));
    indexes.forEach((index, j) => {
      decided[index] = { label: decide(scores[j] as number, p.threshold, true).label, tier: 2 };
    });
  }
  return { decided, escalated };
}

/**
 * What each model is timed on: tier 1 on the replayed events; tier 2 on the ones it escalated,
 * topped up with other replayed events to as many as tier 1 runs (its time is needed for the
 * cost even when few or none escalated, and a run of 5 events times batch overhead, not tier 2).
 */
function timingSubjects(
  scorers: { tier1: ModelScorer; tier2: ModelScorer },
  items: readonly Item[],
  escalated: readonly number[],
  batchSize: number,
): { tier1: Timed; tier2: Timed; tier2Timing: ReplayRun['tier2Timing'] } {
  const size = Math.min(TIMING_EVENTS, items.length);
  const texts = items.slice(0, size).map((i) => i.text);
  const escalatedSet = new Set(escalated.slice(0, size));
  const topUp = items.flatMap((item, i) => (escalatedSet.has(i) ? [] : [item.text]));
  const tier2Texts = [
    ...[...escalatedSet].map((i) => (items[i] as Item).text),
    ...topUp.slice(0, size - escalatedSet.size),
  ];
  const runOf = (scorer: ModelScorer, run: readonly string[]) => async () => {
    for (let start = 0; start < run.length; start += batchSize)
      await scorer.scoreBatch(run.slice(start, start + batchSize));
  };
  return {
    tier1: { run: runOf(scorers.tier1, texts), events: texts.length },
    tier2: { run: runOf(scorers.tier2, tier2Texts), events: tier2Texts.length },
    tier2Timing:
      escalatedSet.size === 0
        ? 'sample'
        : escalatedSet.size < size
          ? 'escalated events and a sample'
          : 'escalated events',
  };
}

function summarizeRun(
  p: Plan,
  items: readonly Item[],
  { decided, escalated }: Decided,
  timing: { tier1: TimingSpread; tier2: TimingSpread },
  tier2Timing: ReplayRun['tier2Timing'],
  deployment: StageDeployment | undefined,
  options: ReplayOptions,
): ReplayRun {
  const agreement = { same: 0, compared: 0 };
  const tierAgreement = { same: 0, compared: 0 };
  const accuracy = { correct: 0, labelled: 0 };
  items.forEach((item, i) => {
    const o = decided[i] as Outcome;
    if (item.servedLabel) {
      agreement.compared++;
      if (item.servedLabel === o.label) agreement.same++;
    }
    if (item.servedTier !== undefined && Number.isFinite(item.servedTier)) {
      tierAgreement.compared++;
      if (item.servedTier === o.tier) tierAgreement.same++;
    }
    if (item.expectedLabel) {
      accuracy.labelled++;
      if (item.expectedLabel === o.label) accuracy.correct++;
    }
  });
  const rate = (a: number, b: number) => (b > 0 ? a / b : null);
  const escalationRate = escalated.length / items.length;
  // The cost is priced at the median run: one slow run (GC, a neighbour's burst) must not move it.
  const costPerMillionUsd = cascadeComputePerMillion({
    tier1MsPerEvent: timing.tier1.median,
    tier2MsPerEvent: timing.tier2.median,
    escalationRate,
    tier1MemoryMiB: tierMemory(1, deployment, options.tier1Memory).memoryMiB,
    tier2MemoryMiB: tierMemory(2, deployment, options.tier2Memory).memoryMiB,
    architecture: deployment?.tiers.get(1)?.architecture ?? 'arm64',
  });
  return {
    role: p.role,
    manifest: p.path,
    models: p.cascade,
    threshold: p.threshold,
    thresholdFrom: p.thresholdFrom,
    events: items.length,
    escalations: escalated.length,
    escalationRate,
    agreement: { ...agreement, rate: rate(agreement.same, agreement.compared) },
    tierAgreement: { ...tierAgreement, rate: rate(tierAgreement.same, tierAgreement.compared) },
    accuracy: { ...accuracy, rate: rate(accuracy.correct, accuracy.labelled) },
    tier1MsPerEvent: timing.tier1.median,
    tier2MsPerEvent: timing.tier2.median,
    tier2Timing,
    timing,
    costPerMillionUsd,
  };
}

/** Memory of a tier: the flag, the stage template, or the dev stage's defaults. */
function tierMemory(
  tier: 1 | 2,
  deployment: StageDeployment | undefined,
  flag: number | undefined,
): { memoryMiB: number; from: string } {
  if (flag !== undefined) return { memoryMiB: flag, from: `--tier${tier}-memory` };
  const deployed = deployment?.tiers.get(tier)?.memoryMiB;
  if (deployed !== undefined) {
    return { memoryMiB: deployed, from: shown(deployment?.templatePath ?? 'template') };
  }
  return { memoryMiB: tier === 1 ? 1024 : 2048, from: 'assumed; no synthesized template found (cdk synth)' };
}

function sideBySide(runs: readonly ReplayRun[]): string[] {
  const pct = (r: number | null) => (r === null ? 'n/a' : `${(r * 100).toFixed(2)}%`);
  const usd = (v: number) => `$${v < 1 ? v.toFixed(4) : v.toFixed(2)}`;
  const rows: [string, (r: ReplayRun) => string][] = [
    ['manifest', (r) => shown(r.manifest)],
    ['models', (r) => `${r.models.tier1} -> ${r.models.tier2}`],
    ['threshold', (r) => `${r.threshold} (${r.thresholdFrom})`],
    ['events replayed', (r) => String(r.events)],
    ['escalation rate', (r) => `${pct(r.escalationRate)} (${r.escalations}/${r.events})`],
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
    ['tier-1 ms/event here', (r) => describeSpread(r.timing.tier1)],
    [
      'tier-2 ms/event here',
      (r) =>
        `${describeSpread(r.timing.tier2)}${r.tier2Timing === 'escalated events' ? '' : ` (${r.escalations === 0 ? 'none' : `${r.escalations}`} escalated: timed with other replayed events)`}`,
    ],
    [
      'compute $/1M events (median)',
      (r) =>
        `${usd(r.costPerMillionUsd.totalUsd)} (tier 1 ${usd(r.costPerMillionUsd.tier1Usd)} + tier 2 ${usd(r.costPerMillionUsd.tier2Usd)})`,
    ],
    ['all-tier-2 $/1M events', (r) => usd(r.costPerMillionUsd.allTier2Usd)],
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
