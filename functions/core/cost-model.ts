import { AWS_PRICES, LAMBDA_PRICE } from './pricing';

/**
 * Dollars per million inference requests for one stage, from AWS list prices (`pricing.ts`) and
 * measured inputs: per-event compute of each tier, the escalation rate, message sizes and archive
 * bytes. A model, not a bill: every line says what it assumed. Shared by `inferbus cost` and the
 * Cost benchmark, so both answer the same way.
 */
export interface TierDeployment {
  readonly memoryMiB: number;
  /** Records per invocation (the SQS event source batch size). */
  readonly batchSize: number;
  readonly provisionedConcurrencyMin: number;
  /** Compute per event measured on one full vCPU, in ms. */
  readonly msPerEvent: number;
}

export interface CostModelInput {
  readonly tier1: TierDeployment;
  readonly tier2: TierDeployment;
  /** Share of requests tier 1 escalates, 0..1 (ignored for the all-tier-2 scenario). */
  readonly escalationRate: number;
  /** Steady request rate that provisioned concurrency is spread over. */
  readonly requestsPerSecond: number;
  readonly archiveBufferingIntervalSeconds: number;
  /** Mean 64 KB EventBridge billing units per request entry. */
  readonly requestBillingUnits: number;
  /** Mean Firehose-billed bytes of a request row (rounded up to 5 KB per record) and of a result row. */
  readonly requestRowBilledBytes: number;
  readonly resultRowBilledBytes: number;
  /** Parquet bytes per archive row, and bytes each named query scans per row. */
  readonly parquetBytesPerRow: number;
  readonly scanBytesPerRowPerQuery: readonly number[];
}

export const COST_ASSUMPTIONS = {
  /** Wall time of one PutEvents call of up to 10 entries from Lambda, in-region. */
  putEventsMs: 15,
  /** SQS requests per message: EventBridge SendMessage + ReceiveMessage and DeleteMessageBatch of 10. */
  sqsRequestsPerMessage: 1.2,
  /** Archive kept one month in S3 Standard; every named query run once over the million requests' rows. */
  s3Months: 1,
  /** Graviton (arm64) assumed as fast per core as the measuring machine for this code. */
  armSpeedFactor: 1,
  firehoseRecordRoundingBytes: 5 * 1024,
  eventBridgeChunkBytes: 64 * 1024,
} as const;

export interface CostLine {
  readonly item: string;
  readonly dollars: number;
  readonly detail: string;
}

export interface CostEstimate {
  readonly scenario: 'cascade' | 'all-tier-2';
  readonly escalationRate: number;
  readonly lines: readonly CostLine[];
  readonly totalPerMillion: number;
  readonly lambdaDurationPerMillion: number;
}

const MILLION = 1e6;
const GB = 1024 ** 3;
const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

export function estimateCostPerMillion(
  input: CostModelInput,
  scenario: 'cascade' | 'all-tier-2',
): CostEstimate {
  const A = COST_ASSUMPTIONS;
  const P = AWS_PRICES;
  const escalation = scenario === 'cascade' ? input.escalationRate : 1;
  const lines: CostLine[] = [];
  const lambda = (name: string, tier: TierDeployment, events: number) => {
    const gb = tier.memoryMiB / 1024;
    const cpu = Math.max(1, LAMBDA_PRICE.fullVcpuMiB / tier.memoryMiB) * A.armSpeedFactor;
    const perInvocationMs = Math.ceil(
      tier.batchSize * tier.msPerEvent * cpu + Math.ceil(tier.batchSize / 10) * A.putEventsMs,
    );
    const invocations = events / tier.batchSize;
    const gbSeconds = invocations * gb * (perInvocationMs / 1000);
    lines.push({
      item: `Lambda ${name} duration (on provisioned instances) + requests`,
      dollars:
        gbSeconds * P.lambdaArmProvisionedDurationGbSecond +
        (invocations / MILLION) * P.lambdaRequestPerMillion,
      detail: `${Math.round(invocations)} invocations of ${tier.batchSize} x ${round(tier.msPerEvent, 3)} ms x ${round(cpu, 2)} (CPU share at ${tier.memoryMiB} MB) + PutEvents = ${perInvocationMs} ms, ${round(gbSeconds, 1)} GB-s`,
    });
    const pcGbSeconds = tier.provisionedConcurrencyMin * gb * (MILLION / input.requestsPerSecond);
    lines.push({
      item: `Lambda ${name} provisioned concurrency`,
      dollars: pcGbSeconds * P.lambdaArmProvisionedGbSecond,
      detail: `${tier.provisionedConcurrencyMin} instance(s) x ${tier.memoryMiB} MB for the ${round(MILLION / input.requestsPerSecond / 3600, 1)} h a million requests take at ${input.requestsPerSecond}/s`,
    });
  };
  if (scenario === 'cascade') {
    lambda('tier1', input.tier1, MILLION);
    // Tier 2 stays deployed (with its provisioned concurrency) even when nothing escalates.
    lambda('tier2', input.tier2, MILLION * escalation);
  } else {
    lambda('tier2', input.tier2, MILLION);
  }
  const queueMessages = scenario === 'cascade' ? MILLION * (1 + escalation) : MILLION;
  lines.push({
    item: 'SQS requests',
    dollars: ((queueMessages * A.sqsRequestsPerMessage) / MILLION) * P.sqsStandardPerMillionRequests,
    detail: `${Math.round(queueMessages)} messages x ${A.sqsRequestsPerMessage} requests`,
  });
  const resultEvents = scenario === 'cascade' ? 1 + escalation : 1;
  lines.push({
    item: 'EventBridge custom events',
    dollars:
      ((MILLION * (input.requestBillingUnits + resultEvents)) / MILLION) *
      P.eventBridgeCustomEventsPerMillion,
    detail: `requests (${round(input.requestBillingUnits, 3)} x 64 KB units each) + ${round(resultEvents, 4)} result events per request`,
  });
  const firehoseBytes = MILLION * (input.requestRowBilledBytes + resultEvents * input.resultRowBilledBytes);
  lines.push({
    item: 'Firehose ingestion + Parquet conversion',
    dollars: (firehoseBytes / GB) * (P.firehoseIngestPerGb + P.firehoseFormatConversionPerGb),
    detail: `${round(1 + resultEvents, 4)} records per request, each rounded up to 5 KB: ${round(firehoseBytes / GB, 2)} GB billed`,
  });
  const rows = MILLION * (1 + resultEvents);
  const parquetGb = (rows * input.parquetBytesPerRow) / GB;
  const objects = MILLION / input.requestsPerSecond / Math.max(1, input.archiveBufferingIntervalSeconds);
  lines.push({
    item: 'S3 storage (one month) + PUTs',
    dollars: parquetGb * P.s3StandardGbMonth * A.s3Months + (objects / 1000) * P.s3PutPerThousand,
    detail: `${round(parquetGb, 3)} GB Parquet (${round(input.parquetBytesPerRow, 0)} B/row), ${Math.round(objects)} objects`,
  });
  const scanned = input.scanBytesPerRowPerQuery.reduce(
    (sum, perRow) => sum + Math.max(P.athenaMinBytesPerQuery, perRow * rows),
    0,
  );
  lines.push({
    item: 'Athena (each named query once)',
    dollars: (scanned / 1024 ** 4) * P.athenaPerTb,
    detail: `${input.scanBytesPerRowPerQuery.length} queries, ${round(scanned / 1024 ** 2, 1)} MB scanned`,
  });
  const sum = (filter: (line: CostLine) => boolean) =>
    round(
      lines.filter(filter).reduce((s, l) => s + l.dollars, 0),
      4,
    );
  return {
    scenario,
    escalationRate: escalation,
    lines: lines.map((line) => ({ ...line, dollars: round(line.dollars, 4) })),
    totalPerMillion: sum(() => true),
    lambdaDurationPerMillion: sum((l) => l.item.startsWith('Lambda') && l.item.includes('duration')),
  };
}

/** Message-size-dependent inputs from the byte lengths of a sample of message texts. */
export function sizeInputs(
  textBytes: readonly number[],
  requestRowOverheadBytes = 700,
  resultRowBytes = 900,
) {
  const A = COST_ASSUMPTIONS;
  const mean = (f: (bytes: number) => number) =>
    textBytes.reduce((s, b) => s + f(b), 0) / Math.max(1, textBytes.length);
  const round5k = (bytes: number) =>
    Math.ceil(bytes / A.firehoseRecordRoundingBytes) * A.firehoseRecordRoundingBytes;
  return {
    requestBillingUnits: mean((b) => Math.ceil((b * 1.05 + 500) / A.eventBridgeChunkBytes)),
    requestRowBilledBytes: mean((b) => round5k(b * 1.05 + requestRowOverheadBytes)),
    resultRowBilledBytes: round5k(resultRowBytes),
  };
}
