/**
 * Dollars per million inference requests for each task of the dev and prod stage configurations,
 * the cascade against sending everything to its last tier, from AWS list prices and the durations, escalation rates
 * and archive sizes measured earlier in the same run (inference, cascade, archive). A model, not a
 * bill: every price and assumption is in the result and in BENCHMARKS.md.
 */
import {
  COST_ASSUMPTIONS,
  type CostEstimate,
  type CostLine,
  estimateCostPerMillion,
  type PackingInput,
  packingInputs,
  sampleRequests,
  sizeInputs,
} from '../functions/core/cost-model';
import { createPackCodec } from '../functions/core/packing/codec';
import { DEFAULT_PRODUCER_PACK_POLICY } from '../functions/core/packing/policy';
import { AWS_PRICES, LAMBDA_PRICE } from '../functions/core/pricing';
import { stages } from '../lib/config/stages';
import type { ArchiveBenchResult } from './archive';
import type { CascadeBenchResult } from './cascade';
import type { InferenceBenchResult } from './inference';
import { round } from './stats';
import { loadBenchTasks } from './tasks';

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
  /** Bytes of an archive row around the request's input, and of a result row. */
  requestRowOverheadBytes: 700,
  resultRowBytes: 900,
};

export type { CostLine };

export interface CostScenario extends CostEstimate {
  stage: string;
  task: string;
  lambdaPerMillion: number;
  /** How the requests travel: packed by the producers' default policy, or one per entry. */
  traffic?: 'packed' | 'single';
}

export interface CostBenchResult {
  name: 'cost';
  prices: typeof PRICES;
  assumptions: typeof ASSUMPTIONS;
  /** Per task, the per-event ms of its two tiers (end to end at batch 32). */
  perEventMs: { task: string; tier1: number; tier2: number; measuredAtBatch: number }[];
  scenarios: CostScenario[];
  /** all-tier-2 total / cascade total, per `<stage>/<task>` (single) and `<stage>/<task> packed`. */
  savings: Record<string, number>;
  /** The packing inputs per task: the default policy on the task's held-out inputs. */
  packing?: Record<string, PackingInput>;
  /** all-tier-2 / cascade for Lambda duration + requests alone, per `<stage>/<task>`. */
  durationSavings: Record<string, number>;
}

/** What the cost model reads of a stage config's task tier (read loosely: the config is the CDK's). */
interface TierConfigView {
  model?: string;
  threshold?: number | 'manifest';
  memoryMiB?: number;
  batchSize?: number;
  provisionedConcurrency?: { min?: number };
}
interface StageConfigView {
  tasks?: { id?: string; tiers?: TierConfigView[] }[];
  archive?: { bufferingIntervalSeconds?: number };
}

export async function runCostBench(inputs: {
  inference?: InferenceBenchResult;
  cascade?: CascadeBenchResult;
  archive?: ArchiveBenchResult;
}): Promise<CostBenchResult> {
  const { inference, cascade, archive } = inputs;
  const A = ASSUMPTIONS;
  const parquetPerRow = archive ? archive.parquetBytes / archive.rows : 700;
  const scanPerRow = archive ? archive.queries.map((q) => q.allDaysBytes / archive.rows) : [];
  const benchTasks = await loadBenchTasks();
  const scenarios: CostScenario[] = [];
  const perEventMs: CostBenchResult['perEventMs'] = [];
  const codec = await createPackCodec();
  const packing: Record<string, PackingInput> = {};
  for (const stageName of ['dev', 'prod'] as const) {
    const stage = stages[stageName] as unknown as StageConfigView;
    for (const config of stage.tasks ?? []) {
      const task = benchTasks.find((t) => t.id === config.id);
      const tiers = config.tiers ?? [];
      // The cost model prices two tiers; a task of the stage without its models here is skipped.
      if (!task || tiers.length !== 2) continue;
      const [c1, c2] = tiers as [TierConfigView, TierConfigView];
      const names = [c1.model, c2.model];
      const perEvent = (model: string | undefined) =>
        inference?.tasks
          .find((t) => t.task === task.id)
          ?.rows.find((r) => r.model === model && r.batch === 32 && r.mode === 'end-to-end')
          ?.perEventMedianMs ??
        cascade?.tasks.find((t) => t.task === task.id)?.perEventMs[model ?? '']?.median ??
        Number.NaN;
      const t1ms = perEvent(names[0]);
      const t2ms = perEvent(names[1]);
      // No timing of the task's models in this run (e.g. a task added after it): nothing to price.
      if (!Number.isFinite(t1ms) || !Number.isFinite(t2ms)) continue;
      if (!perEventMs.some((p) => p.task === task.id))
        perEventMs.push({ task: task.id, tier1: t1ms, tier2: t2ms, measuredAtBatch: 32 });
      const curve = cascade?.tasks
        .find((t) => t.task === task.id)
        ?.curves.find((c) => c.tiers.join() === names.join());
      // The stage's own threshold for the task when it sets a number, else the manifest's calibration.
      // The stage's point as the run marked it, else the curve's point at the stage's threshold.
      const stageThreshold = c1.threshold;
      const point =
        typeof stageThreshold === 'number'
          ? (curve?.stages[stageName] ??
            curve?.points.find((p) => Math.abs(p.threshold - stageThreshold) < 1e-9))
          : curve?.calibrated;
      if (!Number.isFinite(point?.escalationRate)) continue;
      const sizes = sizeInputs(
        task.test.map((e) =>
          Buffer.byteLength('text' in e.input ? e.input.text : JSON.stringify(e.input.features)),
        ),
        A.requestRowOverheadBytes,
        A.resultRowBytes,
      );
      const tier = (c: TierConfigView, msPerEvent: number) => ({
        memoryMiB: c.memoryMiB ?? Number.NaN,
        batchSize: c.batchSize ?? Number.NaN,
        provisionedConcurrencyMin: c.provisionedConcurrency?.min ?? 0,
        msPerEvent,
      });
      const input = {
        tier1: tier(c1, t1ms),
        tier2: tier(c2, t2ms),
        escalationRate: point?.escalationRate ?? Number.NaN,
        // Requests are assumed spread evenly over the stage's tasks.
        requestsPerSecond: (A.requestsPerSecond[stageName] ?? 1) / (stage.tasks?.length ?? 1),
        archiveBufferingIntervalSeconds: stage.archive?.bufferingIntervalSeconds ?? 300,
        ...sizes,
        parquetBytesPerRow: parquetPerRow,
        scanBytesPerRowPerQuery: scanPerRow,
      };
      packing[task.id] ??= packingInputs(
        sampleRequests(
          task.id,
          task.test.map((e) => e.input as unknown as Record<string, unknown>),
        ),
        DEFAULT_PRODUCER_PACK_POLICY,
        codec,
        { requestRowOverheadBytes: A.requestRowOverheadBytes, resultRowBytes: A.resultRowBytes },
      );
      for (const traffic of ['packed', 'single'] as const) {
        const priced = traffic === 'packed' ? { ...input, packing: packing[task.id] } : input;
        for (const scenario of ['cascade', 'all-tier-2'] as const) {
          const estimate = estimateCostPerMillion(priced, scenario);
          scenarios.push({
            ...estimate,
            stage: stageName,
            task: task.id,
            traffic,
            lambdaPerMillion: round(
              estimate.lines
                .filter((l) => l.item.startsWith('Lambda'))
                .reduce((sum, l) => sum + l.dollars, 0),
              4,
            ),
          });
        }
      }
    }
  }
  const keyOf = (s: CostScenario) => `${s.stage}/${s.task}${s.traffic === 'packed' ? ' packed' : ''}`;
  const keys = [...new Set(scenarios.map(keyOf))];
  const of = (key: string, scenario: string) =>
    scenarios.find((s) => keyOf(s) === key && s.scenario === scenario);
  return {
    name: 'cost',
    prices: PRICES,
    assumptions: ASSUMPTIONS,
    perEventMs,
    scenarios,
    packing,
    savings: Object.fromEntries(
      keys.map((k) => [
        k,
        round(
          (of(k, 'all-tier-2')?.totalPerMillion ?? Number.NaN) /
            (of(k, 'cascade')?.totalPerMillion ?? Number.NaN),
          3,
        ),
      ]),
    ),
    durationSavings: Object.fromEntries(
      keys.map((k) => [
        k,
        round(
          (of(k, 'all-tier-2')?.lambdaDurationPerMillion ?? Number.NaN) /
            (of(k, 'cascade')?.lambdaDurationPerMillion ?? Number.NaN),
          3,
        ),
      ]),
    ),
  };
}
