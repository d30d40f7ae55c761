import { describe, expect, it } from 'vitest';
import {
  type CostModelInput,
  estimateCostPerMillion,
  LAMBDA_PAYLOAD_BYTES,
  type PackingInput,
  packingInputs,
  predictUsage,
} from '../../functions/core/cost-model';
import type { Envelope } from '../../functions/core/envelope';
import { createPackCodec } from '../../functions/core/packing/codec';
import { DEFAULT_PRODUCER_PACK_POLICY } from '../../functions/core/packing/policy';

/** dev-like inputs: a 1 GB tier 1, a 2 GB tier 2, spam-sized requests (about 6 KB each). */
const UNPACKED: CostModelInput = {
  tier1: { memoryMiB: 1024, batchSize: 200, provisionedConcurrencyMin: 1, msPerEvent: 0.05 },
  tier2: { memoryMiB: 2048, batchSize: 32, provisionedConcurrencyMin: 1, msPerEvent: 0.2 },
  escalationRate: 0.03,
  requestsPerSecond: 20,
  archiveBufferingIntervalSeconds: 300,
  requestBillingUnits: 1,
  requestRowBilledBytes: 10 * 1024,
  resultRowBilledBytes: 5 * 1024,
  parquetBytesPerRow: 1500,
  scanBytesPerRowPerQuery: [],
  workload: { queueMessageBytes: 7000 },
};
const PACKING: PackingInput = {
  requestsPerEntry: 23,
  entryBillingUnits: 1,
  queueMessageBytes: 64_500,
  archiveRecordBytes: 1000 * 1024,
  requestRowBytes: 6900,
  resultRowBytes: 900,
};

describe('the cost model with packing as an input', () => {
  it('is the unpacked model when every entry holds one request, but for the archive rows the handlers write', () => {
    const onePerEntry: PackingInput = { ...PACKING, requestsPerEntry: 1, queueMessageBytes: 7000 };
    const firehose = ['firehoseRecords', 'firehoseBilledBytes', 'firehoseFormatConversionBytes'];
    const rest = (usage: Record<string, number>) =>
      Object.fromEntries(Object.entries(usage).filter(([k]) => !firehose.includes(k)));
    for (const scenario of ['cascade', 'all-tier-2'] as const) {
      expect(rest({ ...predictUsage({ ...UNPACKED, packing: onePerEntry }, scenario) })).toEqual(
        rest({ ...predictUsage(UNPACKED, scenario) }),
      );
    }
  });

  it('bills the per-entry services per pack: EventBridge, SQS and Lambda requests fall about R-fold', () => {
    const unpacked = predictUsage(UNPACKED, 'cascade');
    const packed = predictUsage({ ...UNPACKED, packing: PACKING }, 'cascade');
    // Requests: 1M/23 entries of one unit. Results: a result pack per tier-1 message, and an escalation
    // and a tier-2 result pack per message with any escalation (1 - 0.97^23 of them).
    const entries = 1e6 / 23;
    const anyEscalates = 1 - 0.97 ** 23;
    expect(packed.eventBridgeEvents).toBeCloseTo(entries * (1 + (1 - 0.03 ** 23) + 2 * anyEscalates), 3);
    expect(unpacked.eventBridgeEvents).toBeCloseTo(1e6 * (1 + 1.03), 3);
    expect(packed.sqsRequests).toBeLessThan(unpacked.sqsRequests / 10);
    expect(packed.lambdaRequests).toBeLessThan(unpacked.lambdaRequests / 5);
    // Rows stay one per request (and result); the handlers concatenate each invocation's rows into
    // records of up to 1,000 KiB: tier 1's 95 x 23 requests' rows of 6,900 + 900 B are 17 records.
    const perBatch = Math.floor(LAMBDA_PAYLOAD_BYTES / PACKING.queueMessageBytes);
    const tier1Invocations = entries / perBatch;
    const tier1Records = Math.ceil((perBatch * 23 * 7800) / (1000 * 1024));
    expect(tier1Records).toBe(17);
    const tier2Invocations = (entries * anyEscalates) / 32;
    // A pack that escalates exactly one request sends it alone, and tier 2 answers it alone: the
    // archive rules write those two rows, a record each.
    const loneEscalations = entries * 23 * 0.03 * 0.97 ** 22;
    expect(packed.firehoseRecords).toBeCloseTo(
      tier1Invocations * tier1Records + tier2Invocations + 2 * loneEscalations,
      3,
    );
    expect(packed.firehoseRecords).toBeLessThan(unpacked.firehoseRecords / 50);
    // Billed bytes: the rows' own bytes, rounded up to 5 KB per record only.
    const rowBytes = 1e6 * (6900 + 900) + 1e6 * 0.03 * 900;
    expect(packed.firehoseBilledBytes).toBeGreaterThan(rowBytes);
    expect(packed.firehoseBilledBytes).toBeLessThan(unpacked.firehoseBilledBytes / 1.5);
  });

  it("caps a batch of large packs at Lambda's 6 MB payload", () => {
    const estimate = estimateCostPerMillion({ ...UNPACKED, packing: PACKING }, 'cascade');
    const line = estimate.lines.find((l) => l.item.startsWith('Lambda tier1 duration'));
    const perBatch = Math.floor(LAMBDA_PAYLOAD_BYTES / PACKING.queueMessageBytes);
    expect(line?.detail).toContain(`invocations of ${perBatch} messages (${perBatch * 23} requests)`);
  });

  it('prices packed traffic lower in total, and shows the cascade saving on the total', () => {
    const packed = { ...UNPACKED, packing: PACKING };
    const cascade = estimateCostPerMillion(packed, 'cascade');
    const allTier2 = estimateCostPerMillion(packed, 'all-tier-2');
    expect(cascade.totalPerMillion).toBeLessThan(
      estimateCostPerMillion(UNPACKED, 'cascade').totalPerMillion / 2,
    );
    const eventBridge = cascade.lines.find((l) => l.item === 'EventBridge custom events');
    expect(eventBridge?.detail).toMatch(/^43478 request entries of 23 requests \(1 x 64 KB units each\)/);
    expect(allTier2.lambdaDurationPerMillion).toBeGreaterThan(cascade.lambdaDurationPerMillion);
  });
});

describe('packingInputs', () => {
  const requests = Array.from(
    { length: 200 },
    (_, i) =>
      ({
        id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        tenant: 'acme',
        stream: 'cost',
        seq: i + 1,
        hlc: `1765094400000-${i}-cost`,
        type: 'InferenceRequested',
        task: 'spam',
        payload: { text: `request ${i} `.padEnd(2000 + (i % 7) * 300, 'lorem ipsum dolor sit amet ') },
        metadata: {},
        time: '2026-12-07T08:00:00.000Z',
      }) as Envelope,
  );

  it('packs the sample as the producers do: full packs of the policy, the tail left out', () => {
    const json = packingInputs(requests, { ...DEFAULT_PRODUCER_PACK_POLICY, maxItems: 10 }, undefined);
    expect(json.requestsPerEntry).toBe(10);
    expect(json.singleEntryShare).toBe(0);
    const finite = packingInputs(
      requests.slice(0, 21),
      { ...DEFAULT_PRODUCER_PACK_POLICY, maxItems: 10 },
      undefined,
      {
        keepTails: true,
      },
    );
    // 10 + 10 + a lone request: what a finite run of 21 really sends.
    expect(finite.requestsPerEntry).toBe(7);
    expect(finite.singleEntryShare).toBeCloseTo(1 / 3, 9);
    expect(json.entryBillingUnits).toBe(1);
    expect(json.archiveRecordBytes).toBe(1000 * 1024);
    const bigger = packingInputs(requests, DEFAULT_PRODUCER_PACK_POLICY, undefined);
    expect(bigger.requestsPerEntry).toBeGreaterThan(15);
    expect(bigger.queueMessageBytes).toBeLessThanOrEqual(64 * 1024);
    // Full packs stay one 64 KB SQS chunk with EventBridge's wrapper around them.
    expect(bigger.queueChunksPerMessage).toBe(1);
  });

  it('fits more requests per entry with the zstd codec', async () => {
    const codec = await createPackCodec();
    const json = packingInputs(requests, DEFAULT_PRODUCER_PACK_POLICY, undefined);
    const zstd = packingInputs(requests, DEFAULT_PRODUCER_PACK_POLICY, codec);
    expect(zstd.requestsPerEntry).toBeGreaterThan(json.requestsPerEntry * 2);
  });

  it('refuses an empty sample', () => {
    expect(() => packingInputs([], DEFAULT_PRODUCER_PACK_POLICY, undefined)).toThrow(
      'packingInputs needs at least one sample request',
    );
  });
});
