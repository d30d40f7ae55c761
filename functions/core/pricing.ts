import type { BillableUsage } from './billing-units';

/**
 * AWS list prices the CLI (`inferbus replay`, `inferbus cost`) and the benchmarks compute with, in one
 * place. USD, US East (N. Virginia), on demand, first pricing tier; from aws.amazon.com/lambda/pricing,
 * not re-fetched by the code (this module has no AWS imports and makes no calls). When AWS changes a
 * price, change it here and update `asOf`.
 */
export const LAMBDA_PRICE = {
  region: 'us-east-1',
  asOf: '2025-06',
  source: 'aws.amazon.com/lambda/pricing (on demand, first 7.5 billion GB-s per month)',
  /** Duration, arm64 (Graviton), per GB-second. */
  arm64GbSecondUsd: 0.0000133334,
  /** Duration, x86_64, per GB-second. */
  x86GbSecondUsd: 0.0000166667,
  /** Requests, both architectures, per million invocations. */
  requestsPerMillionUsd: 0.2,
  /** Lambda gives one full vCPU at 1,769 MB; less memory gets a proportional share of one. */
  fullVcpuMiB: 1769,
} as const;

export type LambdaArchitecture = 'arm64' | 'x86_64';

/** USD per GB-second of duration for an architecture. */
export function lambdaGbSecondUsd(architecture: LambdaArchitecture = 'arm64'): number {
  return architecture === 'arm64' ? LAMBDA_PRICE.arm64GbSecondUsd : LAMBDA_PRICE.x86GbSecondUsd;
}

/** The CPU share a function of this memory size gets (1 = a whole vCPU, capped at 1). */
export function cpuShare(memoryMiB: number): number {
  return Math.min(1, memoryMiB / LAMBDA_PRICE.fullVcpuMiB);
}

/** Duration cost in USD of `ms` milliseconds of a function with `memoryMiB` of memory. */
export function lambdaDurationUsd(
  ms: number,
  memoryMiB: number,
  architecture: LambdaArchitecture = 'arm64',
): number {
  return (memoryMiB / 1024) * (ms / 1000) * lambdaGbSecondUsd(architecture);
}

export interface CascadeComputeInput {
  /** Tier-1 compute per event, in ms, as measured on one full vCPU. */
  readonly tier1MsPerEvent: number;
  /** Tier-2 compute per escalated event, in ms, as measured on one full vCPU. */
  readonly tier2MsPerEvent: number;
  /** Share of events tier 1 escalates to tier 2, 0..1. */
  readonly escalationRate: number;
  readonly tier1MemoryMiB: number;
  readonly tier2MemoryMiB: number;
  readonly architecture?: LambdaArchitecture;
  /**
   * Scale the measured times by the CPU share the memory size buys (a 1,024 MB function runs
   * CPU-bound code at 1024/1769 of a vCPU, so it takes longer). @default true
   */
  readonly scaleByCpuShare?: boolean;
}

export interface CascadeComputeCost {
  /** USD per million events, tier 1 (every event). */
  readonly tier1Usd: number;
  /** USD per million events, tier 2 (escalated events only). */
  readonly tier2Usd: number;
  readonly totalUsd: number;
  /** The same million events all sent to tier 2 (no cascade), for comparison. */
  readonly allTier2Usd: number;
}

/** Lambda duration cost per million events of a two-tier cascade (compute only: no request charges). */
export function cascadeComputePerMillion(input: CascadeComputeInput): CascadeComputeCost {
  const arch = input.architecture ?? 'arm64';
  const scale = input.scaleByCpuShare ?? true;
  const billedMs = (ms: number, mem: number) => (scale ? ms / cpuShare(mem) : ms);
  const tier1 = lambdaDurationUsd(
    billedMs(input.tier1MsPerEvent, input.tier1MemoryMiB),
    input.tier1MemoryMiB,
    arch,
  );
  const tier2 = lambdaDurationUsd(
    billedMs(input.tier2MsPerEvent, input.tier2MemoryMiB),
    input.tier2MemoryMiB,
    arch,
  );
  const million = 1_000_000;
  return {
    tier1Usd: tier1 * million,
    tier2Usd: tier2 * input.escalationRate * million,
    totalUsd: (tier1 + tier2 * input.escalationRate) * million,
    allTier2Usd: tier2 * million,
  };
}

/** One line that says which prices a figure used, for output next to it. */
export function describeLambdaPrice(architecture: LambdaArchitecture = 'arm64'): string {
  return (
    `Lambda ${architecture} $${lambdaGbSecondUsd(architecture)}/GB-s, ${LAMBDA_PRICE.region} list price as of ` +
    `${LAMBDA_PRICE.asOf} (${LAMBDA_PRICE.source})`
  );
}

/**
 * The other services' list prices the cost model uses. USD, us-east-1, on demand, as published in
 * 2025 (aws.amazon.com/<service>/pricing); not re-fetched by the code.
 */
export const AWS_PRICES = {
  source:
    'AWS public list prices, US East (N. Virginia), 2025 (aws.amazon.com/<service>/pricing); not re-fetched from this offline machine',
  region: 'us-east-1',
  asOf: '2025',
  lambdaArmGbSecond: LAMBDA_PRICE.arm64GbSecondUsd,
  lambdaRequestPerMillion: LAMBDA_PRICE.requestsPerMillionUsd,
  lambdaArmProvisionedGbSecond: 0.0000033334,
  lambdaArmProvisionedDurationGbSecond: 0.0000077778,
  sqsStandardPerMillionRequests: 0.4,
  eventBridgeCustomEventsPerMillion: 1.0,
  firehoseIngestPerGb: 0.029,
  firehoseFormatConversionPerGb: 0.018,
  s3StandardGbMonth: 0.023,
  /** Class A (PUT, COPY, POST, LIST). */
  s3PutPerThousand: 0.005,
  /** Class B (GET and all other requests). */
  s3GetPerThousand: 0.0004,
  /** On demand, since the November 2024 price change. */
  dynamoDbReadRequestUnitsPerMillion: 0.125,
  dynamoDbWriteRequestUnitsPerMillion: 0.625,
  athenaPerTb: 5,
  athenaMinBytesPerQuery: 10 * 1024 ** 2,
} as const;

/** What one service's share of some billable usage costs at list prices. */
export interface ServiceCost {
  readonly service: 'EventBridge' | 'SQS' | 'Lambda' | 'Firehose' | 'S3' | 'DynamoDB' | 'Athena';
  readonly dollars: number;
  /** The units priced, in words. */
  readonly detail: string;
}

/**
 * Billable units priced at the list prices above, per service: the one pricing of usage that the
 * cost model's predictions and the local runtime's metered units share. S3 storage is not usage of
 * a run and is not here.
 */
export function priceUsage(usage: BillableUsage): ServiceCost[] {
  const P = AWS_PRICES;
  const million = 1e6;
  const gb = 1024 ** 3;
  const n = (value: number, digits = 0) =>
    value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  const lambdaDuration = usage.lambdaOnDemandGbSeconds + usage.lambdaProvisionedDurationGbSeconds;
  return [
    {
      service: 'EventBridge',
      dollars: (usage.eventBridgeEvents / million) * P.eventBridgeCustomEventsPerMillion,
      detail: `${n(usage.eventBridgeEvents)} custom events (64 KB units)`,
    },
    {
      service: 'SQS',
      dollars: (usage.sqsRequests / million) * P.sqsStandardPerMillionRequests,
      detail: `${n(usage.sqsRequests)} requests (64 KB chunks)`,
    },
    {
      service: 'Lambda',
      dollars:
        (usage.lambdaRequests / million) * P.lambdaRequestPerMillion +
        usage.lambdaOnDemandGbSeconds * P.lambdaArmGbSecond +
        usage.lambdaProvisionedDurationGbSeconds * P.lambdaArmProvisionedDurationGbSecond +
        usage.lambdaProvisionedConcurrencyGbSeconds * P.lambdaArmProvisionedGbSecond,
      detail: `${n(usage.lambdaRequests)} requests, ${n(lambdaDuration, 1)} GB-s duration (${n(usage.lambdaProvisionedDurationGbSeconds, 1)} on provisioned instances), ${n(usage.lambdaProvisionedConcurrencyGbSeconds, 1)} GB-s provisioned concurrency`,
    },
    {
      service: 'Firehose',
      dollars:
        (usage.firehoseBilledBytes / gb) * P.firehoseIngestPerGb +
        (usage.firehoseFormatConversionBytes / gb) * P.firehoseFormatConversionPerGb,
      detail: `${n(usage.firehoseRecords)} records, ${n(usage.firehoseBilledBytes / gb, 4)} GB billed (5 KB per record at least), ${n(usage.firehoseFormatConversionBytes / gb, 4)} GB converted`,
    },
    {
      service: 'S3',
      dollars:
        (usage.s3ClassARequests / 1000) * P.s3PutPerThousand +
        (usage.s3ClassBRequests / 1000) * P.s3GetPerThousand,
      detail: `${n(usage.s3ClassARequests)} class A, ${n(usage.s3ClassBRequests)} class B requests`,
    },
    {
      service: 'DynamoDB',
      dollars:
        (usage.dynamoDbReadUnits / million) * P.dynamoDbReadRequestUnitsPerMillion +
        (usage.dynamoDbWriteUnits / million) * P.dynamoDbWriteRequestUnitsPerMillion,
      detail: `${n(usage.dynamoDbReadUnits, 1)} read, ${n(usage.dynamoDbWriteUnits)} write request units`,
    },
    {
      service: 'Athena',
      dollars: (usage.athenaBilledBytes / 1024 ** 4) * P.athenaPerTb,
      detail: `${n(usage.athenaQueries)} queries, ${n(usage.athenaBilledBytes / 1024 ** 2)} MB billed (10 MB per query at least)`,
    },
  ];
}
