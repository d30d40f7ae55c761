import {
  BILLING_RULES,
  type BillableUsage,
  eventBridgeEvents,
  firehoseBilledBytes,
  lambdaBilledMs,
  NO_USAGE,
  provisionedConcurrencyGbSeconds,
  sqsRequests,
} from './billing-units';
import type { Envelope } from './envelope';
import { type PackEncoder, type PackPolicy, planPacks } from './packing/pack';
import { AWS_PRICES, LAMBDA_PRICE } from './pricing';
import { entrySize } from './put-events';

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
  /** How producers pack requests into entries (issue 18); absent: one request per entry. */
  readonly packing?: PackingInput;
}

/**
 * Packed traffic (`functions/core/packing`): a request entry carries `requestsPerEntry` requests,
 * which travel together as one SQS message to tier 1; tier 1 publishes one result pack per message
 * (and one escalation pack when any of its requests escalate), tier 2 one result pack per
 * escalation pack. Packs are not archived by the rules: each handler writes the rows of what it
 * handled (tier 1 the request's row and its result or escalation row, tier 2 its result rows) to
 * Firehose with PutRecordBatch, concatenated into records of up to `archiveRecordBytes`. Every
 * request of a run is priced as packed (a request left alone is a pack of one, which the mean
 * already counts).
 */
export interface PackingInput {
  /** Mean requests per request entry (packs and lone requests together): from the policy and the corpus. */
  readonly requestsPerEntry: number;
  /** Mean 64 KB EventBridge units of one request entry. */
  readonly entryBillingUnits: number;
  /** Mean bytes of a request entry's SQS message (the entry plus EventBridge's wrapper). */
  readonly queueMessageBytes: number;
  /**
   * Mean 64 KB chunks of one such message sent alone (a mean of chunks, not the chunks of the mean:
   * a few large lone requests would otherwise make every full pack two chunks). @default from the bytes
   */
  readonly queueChunksPerMessage?: number;
  /** Most bytes of one Firehose record of rows the handlers write (several JSON documents per record). */
  readonly archiveRecordBytes: number;
  /**
   * Share of request entries that carry one request (alone in its group, or too large to share):
   * plain single events, whose rows the archive rules write, one record each. @default 0
   */
  readonly singleEntryShare?: number;
  /** Mean bytes of a request's archive row and of a result's, before the 5 KB rounding. */
  readonly requestRowBytes: number;
  readonly resultRowBytes: number;
}

/** Lambda's invocation payload limit, which also caps how many SQS messages one batch holds. */
export const LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024;

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
   * @default 2 reads, and 7 writes or 3 per 100 requests of the batch if more (one tenant and one
   * stream per batch, measured)
   */
  readonly stateReadUnitsPerInvocation?: number;
  readonly stateWriteUnitsPerInvocation?: number;
  /**
   * Packed: the share of tier-1 messages whose requests escalated at least one (each makes one
   * escalation pack). It depends on which requests arrive together. @default 1 - (1 - e)^R, as if
   * requests escalated independently
   */
  readonly escalationPacksPerEntry?: number;
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
  /** SQS messages (Lambda records) the tier receives: one per request, or one per pack. */
  readonly records: number;
  /** Requests those records carry. */
  readonly requests: number;
  readonly invocations: number;
  readonly recordsPerInvocation: number;
  readonly requestsPerInvocation: number;
  /** Mean bytes of one of its SQS messages (0: unknown, one 64 KB chunk). */
  readonly messageBytes: number;
  /** Mean 64 KB chunks of one SendMessage of it, when known better than from the mean bytes. */
  readonly sendChunks?: number;
  readonly msPerInvocation: number;
  readonly cpu: number;
  readonly gbSeconds: number;
  readonly measured: boolean;
}

function tierPrediction(
  name: 'tier1' | 'tier2',
  tier: TierDeployment,
  flow: {
    records: number;
    requests: number;
    messageBytes: number;
    sendChunks?: number;
    resultEntriesPerRecord: number;
  },
  shape: WorkloadShape,
): TierPrediction {
  const A = COST_ASSUMPTIONS;
  const { records, requests, messageBytes } = flow;
  // A batch is at most the batch size, and at most what fits Lambda's 6 MB payload (large packs).
  const payloadCap =
    messageBytes > 0 ? Math.max(1, Math.floor(LAMBDA_PAYLOAD_BYTES / messageBytes)) : tier.batchSize;
  const recordsPerInvocation =
    (name === 'tier1' ? shape.tier1RecordsPerInvocation : shape.tier2RecordsPerInvocation) ??
    Math.min(tier.batchSize, payloadCap);
  const requestsPerRecord = records > 0 ? requests / records : 1;
  const requestsPerInvocation = recordsPerInvocation * requestsPerRecord;
  const measuredMs = name === 'tier1' ? shape.tier1MsPerInvocation : shape.tier2MsPerInvocation;
  const cpu = Math.max(1, LAMBDA_PRICE.fullVcpuMiB / tier.memoryMiB) * A.armSpeedFactor;
  const resultEntries = recordsPerInvocation * flow.resultEntriesPerRecord;
  const msPerInvocation =
    measuredMs ??
    Math.ceil(requestsPerInvocation * tier.msPerEvent * cpu + Math.ceil(resultEntries / 10) * A.putEventsMs);
  const invocations = records / recordsPerInvocation;
  return {
    name,
    tier,
    records,
    requests,
    invocations,
    recordsPerInvocation,
    requestsPerInvocation,
    messageBytes,
    sendChunks: flow.sendChunks,
    msPerInvocation,
    cpu,
    gbSeconds: invocations * (tier.memoryMiB / 1024) * (lambdaBilledMs(msPerInvocation) / 1000),
    measured: measuredMs !== undefined,
  };
}

/**
 * How requests flow through the tiers: SQS messages per tier, result events, archive rows. Unpacked,
 * every request is a message and each tier-1 request makes one result or one escalation. Packed,
 * a tier-1 message of R requests makes one result pack when any of them is confident and one
 * escalation pack when any escalates (escalations independent, at the escalation rate e), which is
 * tier 2's message and makes one result pack there.
 */
interface Flow {
  readonly tiers: TierPrediction[];
  /** EventBridge events billed per request: its own entry's share and the results'. */
  readonly requestEvents: number;
  readonly resultEvents: number;
  /** Archive rows, Firehose records and billed bytes for `requests`. */
  readonly rows: number;
  readonly firehoseRecords: number;
  readonly firehoseBilledBytes: number;
  readonly requestsPerEntry: number;
}

function flowOf(input: CostModelInput, scenario: 'cascade' | 'all-tier-2', requests: number): Flow {
  const shape = input.workload ?? {};
  const e = scenario === 'cascade' ? input.escalationRate : 1;
  const pack = input.packing;
  const R = pack?.requestsPerEntry ?? 1;
  const entries = requests / R;
  const entryMessageBytes = pack?.queueMessageBytes ?? shape.queueMessageBytes ?? 0;
  // Rows: the request's, then tier 1's result or escalation, then tier 2's result for escalations.
  const rows = scenario === 'cascade' ? requests * (2 + e) : requests * 2;
  if (scenario === 'all-tier-2') {
    const tier2 = tierPrediction(
      'tier2',
      input.tier2,
      {
        records: entries,
        requests,
        messageBytes: entryMessageBytes,
        sendChunks: pack?.queueChunksPerMessage,
        resultEntriesPerRecord: 1,
      },
      shape,
    );
    return {
      tiers: [tier2],
      requestEvents: entries * (pack?.entryBillingUnits ?? input.requestBillingUnits),
      resultEvents: entries,
      rows,
      ...archive(input, [tier2], rows, requests, 'all-tier-2'),
      requestsPerEntry: R,
    };
  }
  // Chance that a message of R requests has any escalation, and any confident request.
  const anyEscalates = R === 1 ? e : (shape.escalationPacksPerEntry ?? 1 - (1 - e) ** R);
  const anyConfident = R === 1 ? 1 - e : 1 - e ** R;
  const escalationPacks = entries * anyEscalates;
  const tier1 = tierPrediction(
    'tier1',
    input.tier1,
    {
      records: entries,
      requests,
      messageBytes: entryMessageBytes,
      sendChunks: pack?.queueChunksPerMessage,
      resultEntriesPerRecord: anyConfident + anyEscalates,
    },
    shape,
  );
  const escalationRequestsPerPack = escalationPacks > 0 ? (requests * e) / escalationPacks : 0;
  const tier2 = tierPrediction(
    'tier2',
    input.tier2,
    {
      records: escalationPacks,
      requests: requests * e,
      // An escalation pack carries its requests' inputs: about their share of the request entry.
      messageBytes: entryMessageBytes * (R > 1 ? Math.min(1, escalationRequestsPerPack / R) : 1),
      resultEntriesPerRecord: 1,
    },
    shape,
  );
  return {
    tiers: [tier1, tier2],
    requestEvents: entries * (pack?.entryBillingUnits ?? input.requestBillingUnits),
    // Result and escalation packs hold no more than their message's inputs: one unit each.
    resultEvents: entries * anyConfident + 2 * escalationPacks,
    rows,
    ...archive(input, [tier1, tier2], rows, requests, 'cascade'),
    requestsPerEntry: R,
  };
}

/** Firehose records and billed bytes of the archive rows: unpacked one a record, packed per invocation. */
function archive(
  input: CostModelInput,
  tiers: readonly TierPrediction[],
  rows: number,
  requests: number,
  scenario: 'cascade' | 'all-tier-2',
): { firehoseRecords: number; firehoseBilledBytes: number } {
  const pack = input.packing;
  if (!pack) {
    return {
      firehoseRecords: rows,
      firehoseBilledBytes:
        requests * input.requestRowBilledBytes + (rows - requests) * input.resultRowBilledBytes,
    };
  }
  let records = 0;
  let billed = 0;
  // Single events are archived by the rules, a record per row: lone requests (their request row,
  // answer and escalation rows) and, in a cascade, the lone escalation of a pack that escalated
  // exactly one request and tier 2's single result for it.
  const e = scenario === 'cascade' ? input.escalationRate : 0;
  const entries = requests / pack.requestsPerEntry;
  const lone = entries * (pack.singleEntryShare ?? 0);
  const inPacks = Math.max(1, (requests - lone) / Math.max(1e-9, entries - lone));
  const loneEscalations = (entries - lone) * inPacks * e * (1 - e) ** (inPacks - 1);
  const singleResultRows = lone * (1 + 2 * e) + 2 * loneEscalations;
  records += lone + singleResultRows;
  billed += lone * input.requestRowBilledBytes + singleResultRows * input.resultRowBilledBytes;
  for (const t of tiers) {
    // The entry tier writes each request's row and its answer's; tier 2 of a cascade its results.
    const writesRequestRows = t.name === 'tier1' || scenario === 'all-tier-2';
    const bytes =
      t.requestsPerInvocation * ((writesRequestRows ? pack.requestRowBytes : 0) + pack.resultRowBytes);
    const perInvocation = Math.max(1, Math.ceil(bytes / pack.archiveRecordBytes));
    records += t.invocations * perInvocation;
    billed += t.invocations * perInvocation * firehoseBilledBytes(bytes / perInvocation);
  }
  return { firehoseRecords: records, firehoseBilledBytes: billed };
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
  const flow = flowOf(input, scenario, requests);
  const { tiers } = flow;
  const perReceive = shape.messagesPerReceive ?? 10;
  let sends = 0;
  let receives = 0;
  for (const t of tiers) {
    sends += t.records * (t.sendChunks ?? sqsRequests(t.messageBytes));
    receives += (t.records / perReceive) * sqsRequests(perReceive * t.messageBytes);
  }
  const deletes = tiers.reduce((sum, t) => sum + t.invocations * Math.ceil(t.recordsPerInvocation / 10), 0);
  const emptyReceives = ((shape.emptyReceivesPerMillion ?? 0) * requests) / MILLION;
  const invocations = tiers.reduce((sum, t) => sum + t.invocations, 0);
  const tier1 = tiers.find((t) => t.name === 'tier1');
  const tier1Invocations = tier1?.invocations ?? 0;
  const seconds = requests / input.requestsPerSecond;
  // The stream's item holds its recent ids, so its write units grow with the requests per batch:
  // 7 at 200 requests and 9 at 304 (packed, spam), measured; about 3 per 100 requests, at least 7.
  const writeUnits =
    shape.stateWriteUnitsPerInvocation ?? Math.max(7, 0.03 * (tier1?.requestsPerInvocation ?? 0));
  return {
    ...NO_USAGE,
    eventBridgeEvents: flow.requestEvents + flow.resultEvents,
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
    firehoseRecords: flow.firehoseRecords,
    firehoseBilledBytes: flow.firehoseBilledBytes,
    firehoseFormatConversionBytes: flow.firehoseBilledBytes,
    dynamoDbReadUnits: tier1Invocations * (shape.stateReadUnitsPerInvocation ?? 2),
    dynamoDbWriteUnits: tier1Invocations * writeUnits,
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
  const flow = flowOf(input, scenario, MILLION);
  const packed = input.packing !== undefined;
  const records = (t: TierPrediction) =>
    packed
      ? `${round(t.recordsPerInvocation, 1)} messages (${round(t.requestsPerInvocation, 1)} requests)`
      : `${round(t.recordsPerInvocation, 1)} records`;
  const lines: CostLine[] = [];
  for (const t of flow.tiers) {
    lines.push({
      item: `Lambda ${t.name} duration (on provisioned instances) + requests`,
      dollars:
        t.gbSeconds * P.lambdaArmProvisionedDurationGbSecond +
        (t.invocations / MILLION) * P.lambdaRequestPerMillion,
      detail: t.measured
        ? `${Math.round(t.invocations)} invocations of ${records(t)} x ${t.msPerInvocation} ms (measured), ${round(t.gbSeconds, 1)} GB-s`
        : `${Math.round(t.invocations)} invocations of ${records(t)}: ${round(t.requestsPerInvocation, 1)} x ${round(t.tier.msPerEvent, 3)} ms x ${round(t.cpu, 2)} (CPU share at ${t.tier.memoryMiB} MB) + PutEvents = ${t.msPerInvocation} ms, ${round(t.gbSeconds, 1)} GB-s`,
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
  const queueMessages = flow.tiers.reduce((sum, t) => sum + t.records, 0);
  lines.push({
    item: 'SQS requests',
    dollars: (usage.sqsRequests / MILLION) * P.sqsStandardPerMillionRequests,
    detail: `${Math.round(queueMessages)} messages: ${round(usage.sqsRequests / queueMessages, 3)} requests each (send, receive and delete in 64 KB chunks${input.workload?.emptyReceivesPerMillion ? ', empty receives' : ''})`,
  });
  const resultEvents = flow.resultEvents / MILLION;
  const entries = MILLION / flow.requestsPerEntry;
  lines.push({
    item: 'EventBridge custom events',
    dollars: (usage.eventBridgeEvents / MILLION) * P.eventBridgeCustomEventsPerMillion,
    detail: packed
      ? `${Math.round(entries)} request entries of ${round(flow.requestsPerEntry, 2)} requests (${round(flow.requestEvents / entries, 3)} x 64 KB units each) + ${round(resultEvents, 4)} result events per request (packs)`
      : `requests (${round(input.requestBillingUnits, 3)} x 64 KB units each) + ${round(resultEvents, 4)} result events per request`,
  });
  lines.push({
    item: 'Firehose ingestion + Parquet conversion',
    dollars:
      (usage.firehoseBilledBytes / GB) * P.firehoseIngestPerGb +
      (usage.firehoseFormatConversionBytes / GB) * P.firehoseFormatConversionPerGb,
    detail: `${round(flow.rows / MILLION, 4)} rows per request in ${round(usage.firehoseRecords / MILLION, 4)} records, each rounded up to 5 KB: ${round(usage.firehoseBilledBytes / GB, 2)} GB billed`,
  });
  lines.push({
    item: 'DynamoDB tenant state',
    dollars:
      (usage.dynamoDbReadUnits / MILLION) * P.dynamoDbReadRequestUnitsPerMillion +
      (usage.dynamoDbWriteUnits / MILLION) * P.dynamoDbWriteRequestUnitsPerMillion,
    detail: `${Math.round(usage.dynamoDbReadUnits)} read, ${Math.round(usage.dynamoDbWriteUnits)} write request units (per invocation: the bucket and stream read, then written)`,
  });
  const rows = flow.rows;
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

/** Firehose's largest record (PutRecordBatch): the handlers fill records of archive rows up to it. */
export const FIREHOSE_RECORD_BYTES = 1000 * 1024;

/** The packs of a finite sample less each group's last (the tail that ran out of requests). */
function withoutTails<T extends { indexes: readonly number[] }>(
  planned: readonly T[],
  requests: readonly Envelope[],
): T[] {
  const groupOf = (p: T) => {
    const e = requests[p.indexes[0] as number] as Envelope & { task?: string };
    return `${e.tenant}\0${e.task ?? ''}`;
  };
  const last = new Map<string, T>();
  for (const p of planned) last.set(groupOf(p), p);
  const kept = planned.filter((p) => last.get(groupOf(p)) !== p);
  return kept.length > 0 ? kept : [...planned];
}

/** Bytes EventBridge adds around an entry's detail in the event SQS receives (version, id, account, region, ...). */
export const EVENT_WRAPPER_BYTES = 350;

/**
 * The packing inputs of the model from the policy and the corpus: sample requests, in order, packed
 * by {@link planPacks} as a producer packs a steady stream (one tenant and task), the tail pack that
 * ran out of requests left out (`keepTails` keeps them: the packs a finite run really sent). The
 * handlers' archive records hold up to `archiveRecordBytes` (default: Firehose's 1,000 KiB record).
 */
export function packingInputs(
  requests: readonly Envelope[],
  policy: PackPolicy,
  encoder: PackEncoder | undefined,
  options: {
    archiveRecordBytes?: number;
    requestRowOverheadBytes?: number;
    resultRowBytes?: number;
    keepTails?: boolean;
  } = {},
): PackingInput {
  if (requests.length === 0) throw new RangeError('packingInputs needs at least one sample request');
  const planned = planPacks(
    requests.map((envelope) => ({
      envelope,
      source: `inferbus.${envelope.tenant}`,
      detailType: 'InferenceRequested',
    })),
    policy,
    encoder,
  );
  const full = options.keepTails ? planned : withoutTails(planned, requests);
  const packed = full.reduce((sum, p) => sum + p.indexes.length, 0);
  const mean = (f: (p: (typeof full)[number]) => number) =>
    full.reduce((sum, p) => sum + f(p), 0) / full.length;
  const requestsPerEntry = packed / full.length;
  const requestRowBytes =
    requests.reduce(
      (sum, r) =>
        sum + Buffer.byteLength(JSON.stringify(r.payload)) * 1.05 + (options.requestRowOverheadBytes ?? 700),
      0,
    ) / requests.length;
  return {
    requestsPerEntry,
    entryBillingUnits: mean((p) => eventBridgeEvents(entrySize(p.entry))),
    queueMessageBytes: mean((p) => entrySize(p.entry)) + EVENT_WRAPPER_BYTES,
    queueChunksPerMessage: mean((p) => sqsRequests(entrySize(p.entry) + EVENT_WRAPPER_BYTES)),
    singleEntryShare: mean((p) => (p.indexes.length === 1 ? 1 : 0)),
    archiveRecordBytes: options.archiveRecordBytes ?? FIREHOSE_RECORD_BYTES,
    requestRowBytes,
    resultRowBytes: options.resultRowBytes ?? 900,
  };
}

/** Sample inputs as one producer's requests (one tenant and stream, UUID-sized ids), to pack. */
export function sampleRequests(task: string, inputs: readonly Record<string, unknown>[]): Envelope[] {
  const wallMs = Date.parse('2026-12-07T08:00:00.000Z');
  return inputs.map((payload, i) => ({
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    tenant: 'acme',
    stream: 'cost',
    seq: i + 1,
    hlc: `${wallMs}-${i}-cost.1`,
    type: 'InferenceRequested',
    task,
    payload,
    metadata: {},
    time: new Date(wallMs).toISOString(),
  })) as Envelope[];
}
