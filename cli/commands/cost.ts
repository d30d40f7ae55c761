import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CostEstimate,
  type CostModelInput,
  estimateCostPerMillion,
  type PackingInput,
  packingInputs,
  sampleRequests,
  sizeInputs,
} from '../../functions/core/cost-model';
import { createPackCodec } from '../../functions/core/packing/codec';
import {
  type PackCodecName,
  type ProducerPackPolicy,
  resolvePackPolicy,
} from '../../functions/core/packing/policy';
import { AWS_PRICES } from '../../functions/core/pricing';
import { stageResourceNames } from '../../functions/core/stage-names';
import type { ModelScorer } from '../../functions/inference/model';
import { stratifiedSample } from '../../functions/producer/stratified';
import { type LabelledExample, loadTaskDefinition } from '../../functions/tasks/definition';
import { CliError, ExitCode } from '../errors';
import type { CliIO } from '../io';
import { type DeployedTier, PACKAGE_ROOT, readStageDeployment } from '../stage-template';
import { runTaskCascade } from '../task-cascade';
import {
  type CascadePlan,
  chooseTasks,
  deployedTiers,
  loadPlanScorers,
  manifestPathOf,
  planCascade,
  readManifestFile,
} from '../task-plan';
import { describeSpread, type TimingSpread, timeRounds } from '../timing';

export interface CostOptions {
  readonly stage: string;
  /** Tasks to price (repeatable); default: every task of the stage. */
  readonly task?: string[];
  readonly requestsPerSecond: number;
  readonly escalationRate?: number;
  readonly format: 'table' | 'json';
  /** `false` (`--no-pack`): price unpacked traffic only. @default true */
  readonly pack?: boolean;
  readonly packMax?: number;
  readonly packBytes?: number;
  readonly codec?: PackCodecName;
}

/** Parquet bytes per row when no benchmark run is at hand (measured: BENCHMARKS.md, Archive). */
const DEFAULT_PARQUET_BYTES_PER_ROW = 1530;

export interface TaskCost {
  readonly task: string;
  /** The share of the stage's request rate this task is priced at. */
  readonly requestsPerSecond: number;
  readonly measured: Omit<Measured, 'inputBytes' | 'inputs'>;
  readonly input: CostModelInput;
  /** One request per entry. */
  readonly cascade: CostEstimate;
  readonly allTier2: CostEstimate;
  /** Packed by the producers' policy (absent with `--no-pack`). */
  readonly packed?: {
    readonly policy: ProducerPackPolicy;
    readonly packing: PackingInput;
    readonly cascade: CostEstimate;
    readonly allTier2: CostEstimate;
  };
}

/**
 * `inferbus cost`: dollars per million requests for a stage, per task and for the whole stage,
 * cascade against all-tier-2. The stage's deployment comes from its synthesized template; compute
 * per event and the escalation rate at the stage's thresholds are measured now on this machine with
 * the committed models and each task's held-out examples (its definition's test split); archive
 * bytes come from the newest benchmark run when there is one.
 */
export async function costCommand(options: CostOptions, io: CliIO): Promise<ExitCode> {
  const names = stageResourceNames(options.stage);
  const deployment = readStageDeployment(names.stackName);
  if (!deployment || deployment.tasks.size === 0) {
    throw new CliError(
      `no synthesized template with inference tiers for stage ${options.stage}: run \`npx cdk synth -c stage=${options.stage}\` first`,
      ExitCode.Environment,
    );
  }
  const tasks = chooseTasks(options.task ?? [], [...deployment.tasks.keys()], `stage ${options.stage}`);
  let policy: ProducerPackPolicy | undefined;
  if (options.pack !== false) {
    try {
      policy = resolvePackPolicy(
        { maxItems: options.packMax, maxEntryBytes: options.packBytes, codec: options.codec },
        { maxItems: '--pack-max', maxEntryBytes: '--pack-bytes', codec: '--codec' },
      );
    } catch (error) {
      throw new CliError((error as Error).message, ExitCode.Usage);
    }
  }
  const encoder = policy?.codec === 'zstd' ? await createPackCodec() : undefined;
  // Requests are assumed spread evenly over the stage's tasks (each task's functions serve its share).
  const share = options.requestsPerSecond / deployment.tasks.size;
  const archive = latestArchiveBench();
  const costs: TaskCost[] = [];
  for (const task of tasks) {
    const tiers = deployedTiers(deployment, task) as DeployedTier[];
    if (tiers.length !== 2) {
      throw new CliError(
        `task ${task} has ${tiers.length} tier(s); the cost model prices a two-tier cascade against its last tier (pass --task for the two-tier tasks)`,
        ExitCode.Usage,
      );
    }
    const [tier1, tier2] = tiers as [DeployedTier, DeployedTier];
    const manifestPath = manifestPathOf(task);
    const plan = planCascade(manifestPath, await readManifestFile(manifestPath), deployment, {
      useStageThresholds: true,
    });
    io.err(`task ${task}: measuring the escalation rate and per-tier compute on held-out examples ...`);
    const { inputBytes, inputs, ...measured } = await measure(plan);
    const escalationRate = options.escalationRate ?? measured.escalationRate;
    const input: CostModelInput = {
      tier1: {
        memoryMiB: tier1.memoryMiB,
        batchSize: tier1.batchSize,
        provisionedConcurrencyMin: tier1.provisionedConcurrency,
        msPerEvent: measured.tier1.median,
      },
      tier2: {
        memoryMiB: tier2.memoryMiB,
        batchSize: tier2.batchSize,
        provisionedConcurrencyMin: tier2.provisionedConcurrency,
        msPerEvent: measured.tier2.median,
      },
      escalationRate,
      requestsPerSecond: share,
      archiveBufferingIntervalSeconds: deployment.archiveBufferingIntervalSeconds ?? 300,
      ...sizeInputs(inputBytes),
      parquetBytesPerRow: archive?.parquetBytesPerRow ?? DEFAULT_PARQUET_BYTES_PER_ROW,
      scanBytesPerRowPerQuery: archive?.scanBytesPerRowPerQuery ?? [],
    };
    let packed: TaskCost['packed'];
    if (policy) {
      const packing = packingInputs(sampleRequests(task, inputs), policy, encoder);
      const packedInput = { ...input, packing };
      packed = {
        policy,
        packing,
        cascade: estimateCostPerMillion(packedInput, 'cascade'),
        allTier2: estimateCostPerMillion(packedInput, 'all-tier-2'),
      };
    }
    costs.push({
      task,
      requestsPerSecond: share,
      measured,
      input,
      cascade: estimateCostPerMillion(input, 'cascade'),
      allTier2: estimateCostPerMillion(input, 'all-tier-2'),
      packed,
    });
  }
  const mean = (f: (c: TaskCost) => number) => costs.reduce((s, c) => s + f(c), 0) / costs.length;
  const stage = {
    tasks: costs.map((c) => c.task),
    assumption: `requests spread evenly over the stage's ${deployment.tasks.size} task(s): ${share} requests/s each`,
    cascadePerMillion: mean((c) => c.cascade.totalPerMillion),
    allTier2PerMillion: mean((c) => c.allTier2.totalPerMillion),
    cascadeLambdaDurationPerMillion: mean((c) => c.cascade.lambdaDurationPerMillion),
    allTier2LambdaDurationPerMillion: mean((c) => c.allTier2.lambdaDurationPerMillion),
    packedCascadePerMillion: policy ? mean((c) => c.packed?.cascade.totalPerMillion ?? 0) : null,
    packedAllTier2PerMillion: policy ? mean((c) => c.packed?.allTier2.totalPerMillion ?? 0) : null,
  };
  if (options.format === 'json') {
    io.out(JSON.stringify({ stage: options.stage, prices: AWS_PRICES, tasks: costs, whole: stage }, null, 2));
    return ExitCode.Ok;
  }
  io.out(
    `inferbus ${options.stage}: dollars per million requests at ${options.requestsPerSecond} requests/s (${stage.assumption})`,
  );
  io.out(`  prices: ${AWS_PRICES.source}`);
  if (!archive)
    io.out('  archive bytes: defaults (run `npm run bench` for measured Parquet and Athena scan sizes)');
  const pct = (r: number) => `${(r * 100).toFixed(2)}%`;
  for (const cost of costs) {
    const { measured } = cost;
    const { sample } = measured;
    io.out('');
    io.out(`task ${cost.task} (${measured.models.join(' -> ')}):`);
    io.out(
      `  measured here (batch ${BATCH}, one core, median of ${measured.tier1.runs} timed runs): ` +
        `tier 1 ${describeSpread(measured.tier1)}, tier 2 ${describeSpread(measured.tier2)} per event`,
    );
    io.out(
      `  escalation at threshold ${measured.threshold} (${measured.thresholdFrom}): ${pct(measured.escalationRate)} (${measured.escalations} of ` +
        `${sample.examples} held-out examples${sample.examples === sample.heldOut ? ', the whole test split' : `, stratified from ${sample.heldOut}`}: ` +
        `${Object.entries(sample.byLabel)
          .map(([label, n]) => `${n} ${label}`)
          .join(', ')}; 95% interval ` +
        `${pct(measured.escalationInterval95.low)}–${pct(measured.escalationInterval95.high)})` +
        (options.escalationRate === undefined ? '' : `; priced at ${pct(options.escalationRate)} (given)`),
    );
    const saving = (cascade: CostEstimate, allTier2: CostEstimate) =>
      `all-tier-2 costs ${(allTier2.totalPerMillion / cascade.totalPerMillion).toFixed(2)}x the cascade in total, ` +
      `${(allTier2.lambdaDurationPerMillion / cascade.lambdaDurationPerMillion).toFixed(2)}x in Lambda duration`;
    if (cost.packed) {
      const { packing, policy: p } = cost.packed;
      io.out('');
      io.out(
        `  packed (producers' default policy${options.packMax || options.packBytes || options.codec ? ' as given' : ''}: up to ${p.maxItems} requests and ${p.maxEntryBytes} B per entry, ${p.codec}): ` +
          `${packing.requestsPerEntry.toFixed(1)} requests per entry of ${packing.entryBillingUnits.toFixed(2)} units on this task's held-out inputs, ` +
          `archive rows written by the handlers in Firehose records of up to ${Math.round(packing.archiveRecordBytes / 1024)} KiB`,
      );
      for (const estimate of [cost.packed.cascade, cost.packed.allTier2]) printEstimate(io, estimate);
      io.out('');
      io.out(`  packed: ${saving(cost.packed.cascade, cost.packed.allTier2)}`);
      io.out('');
      io.out('  unpacked (one request per entry, --no-pack):');
    }
    for (const estimate of [cost.cascade, cost.allTier2]) printEstimate(io, estimate);
    io.out('');
    io.out(`  ${cost.packed ? 'unpacked: ' : ''}${saving(cost.cascade, cost.allTier2)}`);
    if (cost.packed) {
      io.out(
        `  packing: cascade $${cost.packed.cascade.totalPerMillion.toFixed(2)} per million packed against $${cost.cascade.totalPerMillion.toFixed(2)} unpacked ` +
          `(${(cost.cascade.totalPerMillion / cost.packed.cascade.totalPerMillion).toFixed(2)}x less)`,
      );
    }
  }
  io.out('');
  io.out(
    `whole stage (${stage.tasks.join(', ')}; ${stage.assumption}): cascade $${stage.cascadePerMillion.toFixed(2)} per million, ` +
      `all-tier-2 $${stage.allTier2PerMillion.toFixed(2)} (${(stage.allTier2PerMillion / stage.cascadePerMillion).toFixed(2)}x)` +
      (stage.packedCascadePerMillion !== null && stage.packedAllTier2PerMillion !== null
        ? `; packed: cascade $${stage.packedCascadePerMillion.toFixed(2)}, all-tier-2 $${stage.packedAllTier2PerMillion.toFixed(2)} (${(stage.packedAllTier2PerMillion / stage.packedCascadePerMillion).toFixed(2)}x)`
        : ''),
  );
  return ExitCode.Ok;
}

function printEstimate(io: CliIO, estimate: CostEstimate): void {
  io.out('');
  io.out(
    `  ${estimate.scenario} (escalation ${(estimate.escalationRate * 100).toFixed(2)}%): $${estimate.totalPerMillion.toFixed(2)} per million`,
  );
  const width = Math.max(...estimate.lines.map((l) => l.item.length));
  for (const line of estimate.lines)
    io.out(`    ${line.item.padEnd(width)}  $${line.dollars.toFixed(4).padStart(8)}  ${line.detail}`);
}

/**
 * Held-out examples cost scores per task: the whole test split when it holds fewer (SpamAssassin:
 * 913), else a label-stratified sample of this size, whose escalation rate is within a percentage
 * point of the whole split's (see the printed interval).
 */
export const COST_SAMPLE_SIZE = 1000;
/** Events per timing run: the first of the stratified sample. */
const TIMING_EVENTS = 256;
const BATCH = 32;

interface Measured {
  readonly models: readonly string[];
  readonly threshold: number;
  readonly thresholdFrom: string;
  readonly sample: { examples: number; heldOut: number; byLabel: Record<string, number> };
  readonly escalations: number;
  readonly escalationRate: number;
  readonly escalationInterval95: { low: number; high: number };
  readonly tier1: TimingSpread;
  readonly tier2: TimingSpread;
  /** Bytes of each sampled request's input, for EventBridge and Firehose sizes. */
  readonly inputBytes: number[];
  /** The sampled requests' inputs, to pack as producers would. */
  readonly inputs: Record<string, unknown>[];
}

async function measure(plan: CascadePlan): Promise<Measured> {
  let heldOut: readonly LabelledExample[];
  try {
    heldOut = (await (await loadTaskDefinition(plan.task)).loadSplits()).test;
  } catch (error) {
    throw new CliError(
      `cost needs task ${plan.task}'s held-out examples (functions/tasks/${plan.task}/ and its dev dependencies, npm ci): ${(error as Error).message}`,
      ExitCode.Environment,
    );
  }
  if (heldOut.length === 0) {
    throw new CliError(`task ${plan.task} has an empty test split: nothing to measure`, ExitCode.Environment);
  }
  const sample = stratifiedSample(heldOut, (e) => e.label, COST_SAMPLE_SIZE);
  const inputs = sample.map((e) => e.input);
  const scorers = await loadPlanScorers(plan);
  try {
    const outcome = await runTaskCascade(scorers, plan.thresholds, inputs, BATCH);
    const escalations = outcome.reached[1]?.length ?? 0;
    const timed = inputs.slice(0, TIMING_EVENTS);
    const runOf = (scorer: ModelScorer) => async () => {
      for (let i = 0; i < timed.length; i += BATCH) await scorer.score(timed.slice(i, i + BATCH));
    };
    const [t1, t2] = await timeRounds(
      scorers.map((scorer) => ({ run: runOf(scorer), events: timed.length })),
    );
    const byLabel: Record<string, number> = {};
    for (const label of plan.manifest.task.labels)
      byLabel[label] = sample.filter((e) => e.label === label).length;
    return {
      models: plan.models,
      threshold: plan.thresholds[0] as number,
      thresholdFrom: plan.thresholdFrom,
      sample: { examples: sample.length, heldOut: heldOut.length, byLabel },
      escalations,
      escalationRate: escalations / sample.length,
      escalationInterval95: wilsonInterval(escalations, sample.length),
      tier1: t1 as TimingSpread,
      tier2: t2 as TimingSpread,
      inputs: inputs as Record<string, unknown>[],
      inputBytes: inputs.map((input) =>
        Buffer.byteLength('text' in input ? input.text : JSON.stringify(input.features)),
      ),
    };
  } finally {
    await Promise.all(scorers.map((s) => s.release()));
  }
}

/** 95% Wilson score interval of a proportion: how far the true rate may be from the sample's. */
export function wilsonInterval(successes: number, n: number): { low: number; high: number } {
  if (n === 0) return { low: 0, high: 1 };
  const z = 1.96;
  const p = successes / n;
  const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const half = (z / (1 + (z * z) / n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/** Parquet and scan bytes per row from the newest full benchmark run, if any. */
function latestArchiveBench(): { parquetBytesPerRow: number; scanBytesPerRowPerQuery: number[] } | undefined {
  const dir = join(PACKAGE_ROOT, 'bench', 'results');
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.json') && !f.includes('quick'))
      .sort();
  } catch {
    return undefined;
  }
  const newest = files.at(-1);
  if (!newest) return undefined;
  try {
    const archive = JSON.parse(readFileSync(join(dir, newest), 'utf8')).results?.archive;
    if (!archive?.rows) return undefined;
    return {
      parquetBytesPerRow: archive.parquetBytes / archive.rows,
      scanBytesPerRowPerQuery: (archive.queries ?? []).map(
        (q: { allDaysBytes: number }) => q.allDaysBytes / archive.rows,
      ),
    };
  } catch {
    return undefined;
  }
}
