import {
  BILLING_RULES,
  type BillableUsage,
  firehoseBilledBytes,
  lambdaBilledMs,
  NO_USAGE,
  provisionedConcurrencyGbSeconds,
  sqsRequests,
} from './billing-units';
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
  /** How the traffic arrives, where that changes the bill; defaults describe a steady backlog. */
  readonly workload?: WorkloadShape;
}

/**
 * What the bill depends on besides the requests themselves: how full batches and receives are, how
 * long pollers sit idle. These depend on the arrival pattern, not on the code, so the model takes
 * them as inputs (the metered-vs-model test passes the run's own) rather than guessing.
 */
export interface WorkloadShape {
  /** Mean records per invocation. @default the tier's batch size (a backlog fills every batch) */
  readonly tier1RecordsPerInvocation?: number;
  readonly tier2RecordsPerInvocation?: number;
  /** Mean messages per ReceiveMessage that returned some. @default 10 (the most one returns) */
  readonly messagesPerReceive?: number;
  /** ReceiveMessage calls that returned nothing (idle pollers), per million requests. @default 0 */
  readonly emptyReceivesPerMillion?: number;
  /** Mean bytes of a queued event as SQS holds it, for the 64 KB chunks of sends and receives. @default 0 (one chunk) */
  readonly queueMessageBytes?: number;
  /** Billed ms per invocation as measured, instead of the model's estimate from per-event compute. */
  readonly tier1MsPerInvocation?: number;
  readonly tier2MsPerInvocation?: number;
  /**
   * GB-seconds of init phases of on-demand cold starts (invocations beyond the provisioned
   * concurrency that found no warm instance), per million requests: Lambda bills them since
   * August 2025, and how many there are depends on bursts. @default 0
   */
  readonly coldStartInitGbSecondsPerMillion?: number;
  /**
   * Tier-1 tenant-state request units per invocation: one consistent BatchGetItem of the bucket and
   * the stream (2 reads), a conditional PutItem of each; the stream's item holds its recent ids, so
   * at full batches of 200 it takes about 6 write units. Tier 2 reads no tenant state.
   * @default 2 reads and 7 writes (one tenant and one stream per batch, measured)
   */
  readonly stateReadUnitsPerInvocation?: number;
  readonly stateWriteUnitsPerInvocation?: number;
}

export const COST_ASSUMPTIONS = {
  /** Wall time of one PutEvents call of up to 10 entries from Lambda, in-region. */
  putEventsMs: 15,
  /**
   * SQS requests per message under a steady backlog of small messages: EventBridge's SendMessage,
   * then a tenth of a ReceiveMessage and of a DeleteMessageBatch (10 each). The model computes it
   * from the workload (`predictUsage`); this is the figure for the defaults, for reports.
   */
  sqsRequestsPerMessage: 1.2,
  /** Archive kept one month in S3 Standard; every named query run once over the million requests' rows. */
  s3Months: 1,
  /** Graviton (arm64) assumed as fast per core as the measuring machine for this code. */
  armSpeedFactor: 1,
  firehoseRecordRoundingBytes: BILLING_RULES.firehoseRecordRoundingBytes,
  eventBridgeChunkBytes: BILLING_RULES.eventBridgeChunkBytes,
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

/** Per-tier facts the usage prediction and the cost lines share. */
interface TierPrediction {
  readonly name: 'tier1' | 'tier2';
  readonly tier: TierDeployment;
  readonly records: number;
  readonly invocations: number;
  readonly recordsPerInvocation: number;
  readonly msPerInvocation: number;
  readonly cpu: number;
  readonly gbSeconds: number;
  readonly measured: boolean;
}

function tierPrediction(
  name: 'tier1' | 'tier2',
  tier: TierDeployment,
  records: number,
  shape: WorkloadShape,
): TierPrediction {
  const A = COST_ASSUMPTIONS;
  const recordsPerInvocation =
    (name === 'tier1' ? shape.tier1RecordsPerInvocation : shape.tier2RecordsPerInvocation) ?? tier.batchSize;
  const measuredMs = name === 'tier1' ? shape.tier1MsPerInvocation : shape.tier2MsPerInvocation;
  const cpu = Math.max(1, LAMBDA_PRICE.fullVcpuMiB / tier.memoryMiB) * A.armSpeedFactor;
  const msPerInvocation =
    measuredMs ??
    Math.ceil(
      recordsPerInvocation * tier.msPerEvent * cpu + Math.ceil(recordsPerInvocation / 10) * A.putEventsMs,
    );
  const invocations = records / recordsPerInvocation;
  return {
    name,
    tier,
    records,
    invocations,
    recordsPerInvocation,
    msPerInvocation,
    cpu,
    gbSeconds: invocations * (tier.memoryMiB / 1024) * (lambdaBilledMs(msPerInvocation) / 1000),
    measured: measuredMs !== undefined,
  };
}

function tiersOf(
  input: CostModelInput,
  scenario: 'cascade' | 'all-tier-2',
  requests: number,
): TierPrediction[] {
  const shape = input.workload ?? {};
  const escalation = scenario === 'cascade' ? input.escalationRate : 1;
  // Tier 2 stays deployed (with its provisioned concurrency) even when nothing escalates.
  return scenario === 'cascade'
    ? [
        tierPrediction('tier1', input.tier1, requests, shape),
        tierPrediction('tier2', input.tier2, requests * escalation, shape),
      ]
    : [tierPrediction('tier2', input.tier2, requests, shape)];
}

/**
 * The billable units `requests` requests make, counted with the rules the local runtime meters
 * with (`billing-units.ts`): what `inferbus cost` prices, and what the metered-vs-model test checks
 * against `/metrics` for the same workload. S3 and Athena are left at zero here (their lines are
 * priced from the archive's size below and are not part of the run's usage).
 */
export function predictUsage(
  input: CostModelInput,
  scenario: 'cascade' | 'all-tier-2',
  requests = MILLION,
): BillableUsage {
  const shape = input.workload ?? {};
  const escalation = scenario === 'cascade' ? input.escalationRate : 1;
  const tiers = tiersOf(input, scenario, requests);
  const resultEvents = scenario === 'cascade' ? 1 + escalation : 1;
  const messages = tiers.reduce((sum, t) => sum + t.records, 0);
  const perReceive = shape.messagesPerReceive ?? 10;
  const messageBytes = shape.queueMessageBytes ?? 0;
  const sends = messages * sqsRequests(messageBytes);
  const receives = (messages / perReceive) * sqsRequests(perReceive * messageBytes);
  const deletes = tiers.reduce((sum, t) => sum + t.invocations * Math.ceil(t.recordsPerInvocation / 10), 0);
  const emptyReceives = ((shape.emptyReceivesPerMillion ?? 0) * requests) / MILLION;
  const invocations = tiers.reduce((sum, t) => sum + t.invocations, 0);
  const tier1Invocations = tiers.find((t) => t.name === 'tier1')?.invocations ?? 0;
  const seconds = requests / input.requestsPerSecond;
  const firehoseBytes = requests * (input.requestRowBilledBytes + resultEvents * input.resultRowBilledBytes);
  return {
    ...NO_USAGE,
    eventBridgeEvents: requests * (input.requestBillingUnits + resultEvents),
    sqsRequests: sends + receives + deletes + emptyReceives,
    lambdaRequests: invocations,
    lambdaOnDemandGbSeconds: ((shape.coldStartInitGbSecondsPerMillion ?? 0) * requests) / MILLION,
    // Priced as on provisioned instances: the tiers' provisioned concurrency is sized for the load.
    lambdaProvisionedDurationGbSeconds: tiers.reduce((sum, t) => sum + t.gbSeconds, 0),
    lambdaProvisionedConcurrencyGbSeconds: tiers.reduce(
      (sum, t) =>
        sum + provisionedConcurrencyGbSeconds(t.tier.provisionedConcurrencyMin, t.tier.memoryMiB, seconds),
      0,
    ),
    firehoseRecords: requests * (1 + resultEvents),
    firehoseBilledBytes: firehoseBytes,
    firehoseFormatConversionBytes: firehoseBytes,
    dynamoDbReadUnits: tier1Invocations * (shape.stateReadUnitsPerInvocation ?? 2),
    dynamoDbWriteUnits: tier1Invocations * (shape.stateWriteUnitsPerInvocation ?? 7),
  };
}

export function estimateCostPerMillion(
  input: CostModelInput,
  scenario: 'cascade' | 'all-tier-2',
): CostEstimate {
  const A = COST_ASSUMPTIONS;
  const P = AWS_PRICES;
  const escalation = scenario === 'cascade' ? input.escalationRate : 1;
  const usage = predictUsage(input, scenario);
  const lines: CostLine[] = [];
  for (const t of tiersOf(input, scenario, MILLION)) {
    lines.push({
      item: `Lambda ${t.name} duration (on provisioned instances) + requests`,
      dollars:
        t.gbSeconds * P.lambdaArmProvisionedDurationGbSecond +
        (t.invocations / MILLION) * P.lambdaRequestPerMillion,
      detail: t.measured
        ? `${Math.round(t.invocations)} invocations of ${round(t.recordsPerInvocation, 1)} records x ${t.msPerInvocation} ms (measured), ${round(t.gbSeconds, 1)} GB-s`
        : `${Math.round(t.invocations)} invocations of ${round(t.recordsPerInvocation, 1)} x ${round(t.tier.msPerEvent, 3)} ms x ${round(t.cpu, 2)} (CPU share at ${t.tier.memoryMiB} MB) + PutEvents = ${t.msPerInvocation} ms, ${round(t.gbSeconds, 1)} GB-s`,
    });
    const pcGbSeconds = provisionedConcurrencyGbSeconds(
      t.tier.provisionedConcurrencyMin,
      t.tier.memoryMiB,
      MILLION / input.requestsPerSecond,
    );
    lines.push({
      item: `Lambda ${t.name} provisioned concurrency`,
      dollars: pcGbSeconds * P.lambdaArmProvisionedGbSecond,
      detail: `${t.tier.provisionedConcurrencyMin} instance(s) x ${t.tier.memoryMiB} MB for the ${round(MILLION / input.requestsPerSecond / 3600, 1)} h a million requests take at ${input.requestsPerSecond}/s`,
    });
  }
  const queueMessages = scenario === 'cascade' ? MILLION * (1 + escalation) : MILLION;
  lines.push({
    item: 'SQS requests',
    dollars: (usage.sqsRequests / MILLION) * P.sqsStandardPerMillionRequests,
    detail: `${Math.round(queueMessages)} messages: ${round(usage.sqsRequests / queueMessages, 3)} requests each (send, receive and delete in 64 KB chunks${input.workload?.emptyReceivesPerMillion ? ', empty receives' : ''})`,
  });
  const resultEvents = scenario === 'cascade' ? 1 + escalation : 1;
  lines.push({
    item: 'EventBridge custom events',
    dollars: (usage.eventBridgeEvents / MILLION) * P.eventBridgeCustomEventsPerMillion,
    detail: `requests (${round(input.requestBillingUnits, 3)} x 64 KB units each) + ${round(resultEvents, 4)} result events per request`,
  });
  lines.push({
    item: 'Firehose ingestion + Parquet conversion',
    dollars:
      (usage.firehoseBilledBytes / GB) * P.firehoseIngestPerGb +
      (usage.firehoseFormatConversionBytes / GB) * P.firehoseFormatConversionPerGb,
    detail: `${round(1 + resultEvents, 4)} records per request, each rounded up to 5 KB: ${round(usage.firehoseBilledBytes / GB, 2)} GB billed`,
  });
  lines.push({
    item: 'DynamoDB tenant state',
    dollars:
      (usage.dynamoDbReadUnits / MILLION) * P.dynamoDbReadRequestUnitsPerMillion +
      (usage.dynamoDbWriteUnits / MILLION) * P.dynamoDbWriteRequestUnitsPerMillion,
    detail: `${Math.round(usage.dynamoDbReadUnits)} read, ${Math.round(usage.dynamoDbWriteUnits)} write request units (per invocation: the bucket and stream read, then written)`,
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
  const round5k = firehoseBilledBytes;
  return {
    requestBillingUnits: mean((b) => Math.ceil((b * 1.05 + 500) / A.eventBridgeChunkBytes)),
    requestRowBilledBytes: mean((b) => round5k(b * 1.05 + requestRowOverheadBytes)),
    resultRowBilledBytes: round5k(resultRowBytes),
    /** The request event as SQS holds it: the entry plus EventBridge's own fields (about 350 bytes). */
    queueMessageBytes: mean((b) => b * 1.05 + 500 + 350),
  };
}
