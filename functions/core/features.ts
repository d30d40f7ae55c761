/**
 * The one feature extractor shared by training and serving: a message becomes a sparse,
 * embedding-bag style row of `maxLength` hashed bucket ids with weights.
 *
 * Per message (shape [L], L = spec.maxLength):
 *   ids     int32   bucket ids in [1, vocabSize), ascending; padding slots hold 0
 *   weights float32 (1 + ln tf) per bucket, L2-normalised over the row; padding slots hold 0
 * A batch of N messages packs row-major into ids [N, L] and weights [N, L]: exactly the ONNX inputs.
 *
 * What is hashed, each feature in its own namespace (field salt):
 *   - word unigrams of the body and of a few content headers (subject, from, content-type, x-mailer);
 *     transport headers (Received, Delivered-To, Return-Path, Date, Message-Id, List-*) are skipped:
 *     in the SpamAssassin corpus they identify the collection mailbox rather than the message;
 *   - optionally word bigrams and character n-grams (with word-boundary marks) within words.
 * Words are runs of ASCII letters/digits or code units >= U+00C0; ASCII is lower-cased; "$" and "!"
 * are one-character words. Words longer than maxTokenLength (base64, hashes) collapse into one
 * "long word" feature per power-of-two length class. Only the first maxBodyChars of the body and
 * maxHeaderChars of the header block are read, which bounds the cost of huge messages.
 *
 * The algorithm is versioned by FEATURE_ALGORITHM; any change to what this file computes must bump
 * it (the manifest's fingerprint check catches a forgotten bump).
 */

export const FEATURE_ALGORITHM = 'inferbus-hashed-bag-v1';

export interface FeatureSpec {
  algorithm: typeof FEATURE_ALGORITHM;
  /** Number of buckets including the padding id 0; ids fall in [1, vocabSize). */
  vocabSize: number;
  /** L: the fixed row length; a message with more distinct buckets keeps the L most frequent. */
  maxLength: number;
  hashSeed: number;
  wordBigrams: boolean;
  /** Character n-gram size inside words; 0 turns them off. */
  charNgram: number;
  headers: readonly string[];
  maxTokenLength: number;
  maxBodyChars: number;
  maxHeaderChars: number;
}

const CONTENT_HEADERS = ['subject', 'from', 'content-type', 'x-mailer'] as const;

export const TIER1_FEATURES: FeatureSpec = {
  algorithm: FEATURE_ALGORITHM,
  vocabSize: 1 << 14,
  maxLength: 256,
  hashSeed: 0x5eed0001,
  wordBigrams: false,
  charNgram: 0,
  headers: CONTENT_HEADERS,
  maxTokenLength: 32,
  maxBodyChars: 20_000,
  maxHeaderChars: 32_000,
};

export const TIER2_FEATURES: FeatureSpec = {
  algorithm: FEATURE_ALGORITHM,
  vocabSize: 1 << 15,
  maxLength: 1024,
  hashSeed: 0x5eed0002,
  wordBigrams: true,
  charNgram: 4,
  headers: CONTENT_HEADERS,
  maxTokenLength: 32,
  maxBodyChars: 20_000,
  maxHeaderChars: 32_000,
};

export interface Features {
  /** [L] bucket ids, ascending, 0-padded. */
  ids: Int32Array;
  /** [L] weights aligned with ids, 0 on padding. */
  weights: Float32Array;
  /** Number of non-padding slots. */
  count: number;
}

export interface FeatureBatch {
  /** [N, L] row-major. */
  ids: Int32Array;
  /** [N, L] row-major. */
  weights: Float32Array;
  batchSize: number;
  maxLength: number;
}

export class FeatureSpecError extends Error {
  override name = 'FeatureSpecError';
}

export function assertValidSpec(spec: FeatureSpec): void {
  const problems: string[] = [];
  if (spec.algorithm !== FEATURE_ALGORITHM) {
    problems.push(
      `unknown algorithm ${JSON.stringify(spec.algorithm)} (this build has ${FEATURE_ALGORITHM})`,
    );
  }
  if (!Number.isInteger(spec.vocabSize) || spec.vocabSize < 2 || spec.vocabSize > 1 << 24) {
    problems.push(`vocabSize ${spec.vocabSize} is outside [2, 2^24]`);
  }
  if (!Number.isInteger(spec.maxLength) || spec.maxLength < 1) problems.push(`maxLength ${spec.maxLength}`);
  if (!Number.isInteger(spec.charNgram) || spec.charNgram < 0 || spec.charNgram > 8) {
    problems.push(`charNgram ${spec.charNgram}`);
  }
  if (problems.length > 0) throw new FeatureSpecError(`invalid feature spec: ${problems.join('; ')}`);
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const BOUNDARY = 0x2;
const SALT_BODY = 0;
const SALT_BIGRAM = 0x9e3779b9;
const SALT_CHARGRAM = 0x7f4a7c15;
const SALT_LONG_TOKEN = 0x2545f491;
const HASH_DOLLAR = 0x1f3d5b79;
const HASH_BANG = 0x6c8e9cf5;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function fieldSalt(header: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < header.length; i++) h = Math.imul(h ^ header.charCodeAt(i), FNV_PRIME);
  return fmix32(h);
}

function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c >= 0xc0;
}

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** Index where the header block ends and where the body starts; (0, 0) when there are no headers. */
function headerBounds(text: string): { headerEnd: number; bodyStart: number } {
  if (!looksLikeHeaders(text)) return { headerEnd: 0, bodyStart: 0 };
  const lf = text.indexOf('\n\n');
  const crlf = text.indexOf('\r\n\r\n');
  if (lf < 0 && crlf < 0) return { headerEnd: text.length, bodyStart: text.length };
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { headerEnd: crlf, bodyStart: crlf + 4 };
  return { headerEnd: lf, bodyStart: lf + 2 };
}

/** An mbox "From " line or an RFC 5322 "Name:" first line. */
function looksLikeHeaders(text: string): boolean {
  if (text.startsWith('From ')) return true;
  for (let i = 0; i < text.length && i < 80; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) return i > 0;
    if (!(isWordChar(c) && c < 128) && c !== 45) return false;
  }
  return false;
}

/** Mutable scratch state for one spec; extraction is synchronous, so one instance per spec suffices. */
class Extractor {
  private readonly counts: Float32Array;
  private readonly touched: Int32Array;
  private nTouched = 0;
  private readonly headerSalts: Map<string, number>;

  constructor(readonly spec: FeatureSpec) {
    assertValidSpec(spec);
    this.counts = new Float32Array(spec.vocabSize);
    this.touched = new Int32Array(spec.vocabSize);
    this.headerSalts = new Map(spec.headers.map((h) => [h.toLowerCase(), fieldSalt(h.toLowerCase())]));
  }

  /** Writes one row into ids/weights at `offset` (which the caller has zeroed); returns its count. */
  extractInto(text: string, ids: Int32Array, weights: Float32Array, offset: number): number {
    const { headerEnd, bodyStart } = headerBounds(text);
    this.scanHeaders(text, Math.min(headerEnd, this.spec.maxHeaderChars));
    this.scan(text, bodyStart, Math.min(text.length, bodyStart + this.spec.maxBodyChars), SALT_BODY);
    return this.flush(ids, weights, offset);
  }

  private add(key: number): void {
    const v = this.spec.vocabSize;
    const bucket = 1 + (fmix32(key ^ this.spec.hashSeed) % (v - 1));
    if (this.counts[bucket] === 0) this.touched[this.nTouched++] = bucket;
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
  }

  private scanHeaders(text: string, end: number): void {
    let lineStart = 0;
    while (lineStart < end) {
      let lineEnd = text.indexOf('\n', lineStart);
      if (lineEnd < 0 || lineEnd > end) lineEnd = end;
      const colon = text.indexOf(':', lineStart);
      const first = text.charCodeAt(lineStart);
      if (colon > lineStart && colon < lineEnd && first !== 32 && first !== 9) {
        const salt = this.headerSalts.get(text.slice(lineStart, colon).toLowerCase());
        // A header value continues on folded lines that start with a space or a tab.
        let valueEnd = lineEnd;
        while (valueEnd < end) {
          const next = text.charCodeAt(valueEnd + 1);
          if (next !== 32 && next !== 9) break;
          const more = text.indexOf('\n', valueEnd + 1);
          valueEnd = more < 0 || more > end ? end : more;
        }
        if (salt !== undefined) this.scan(text, colon + 1, valueEnd, salt);
        lineStart = valueEnd + 1;
      } else {
        lineStart = lineEnd + 1;
      }
    }
  }

  private scan(text: string, start: number, end: number, salt: number): void {
    const { wordBigrams, charNgram, maxTokenLength } = this.spec;
    let prev = 0;
    let hasPrev = false;
    let i = start;
    while (i < end) {
      const c = text.charCodeAt(i);
      let token: number;
      if (isWordChar(c)) {
        const s = i;
        let h = FNV_OFFSET;
        while (i < end) {
          const d = text.charCodeAt(i);
          if (!isWordChar(d)) break;
          h = Math.imul(h ^ lower(d), FNV_PRIME);
          i++;
        }
        const len = i - s;
        if (len > maxTokenLength) {
          token = SALT_LONG_TOKEN + (31 - Math.clz32(len));
        } else {
          token = h;
          if (charNgram > 0) this.charGrams(text, s, i, salt);
        }
      } else if (c === 36 || c === 33) {
        token = c === 36 ? HASH_DOLLAR : HASH_BANG;
        i++;
      } else {
        i++;
        continue;
      }
      this.add(token ^ salt);
      if (wordBigrams && hasPrev) this.add(Math.imul(prev, 0x01000193) ^ token ^ salt ^ SALT_BIGRAM);
      prev = token;
      hasPrev = true;
    }
  }

  /** n-grams over BOUNDARY + word + BOUNDARY; words shorter than n-2 give one gram of the whole. */
  private charGrams(text: string, start: number, end: number, salt: number): void {
    const n = this.spec.charNgram;
    const padded = end - start + 2;
    const grams = Math.max(1, padded - n + 1);
    for (let g = 0; g < grams; g++) {
      let h = FNV_OFFSET;
      const stop = Math.min(g + n, padded);
      for (let j = g; j < stop; j++) {
        const c = j === 0 || j === padded - 1 ? BOUNDARY : lower(text.charCodeAt(start + j - 1));
        h = Math.imul(h ^ c, FNV_PRIME);
      }
      this.add(h ^ salt ^ SALT_CHARGRAM);
    }
  }

  private flush(ids: Int32Array, weights: Float32Array, offset: number): number {
    const { maxLength } = this.spec;
    const counts = this.counts;
    let kept: Int32Array = this.touched.subarray(0, this.nTouched);
    if (kept.length > maxLength) {
      // Most frequent first; Array.prototype.sort is stable, so ties keep first-occurrence order.
      const order = Array.from(kept).sort((a, b) => (counts[b] ?? 0) - (counts[a] ?? 0));
      kept = Int32Array.from(order.slice(0, maxLength));
    } else {
      kept = kept.slice();
    }
    kept.sort();
    let norm = 0;
    for (let k = 0; k < kept.length; k++) {
      const w = 1 + Math.log(counts[kept[k] ?? 0] ?? 1);
      norm += w * w;
    }
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let k = 0; k < kept.length; k++) {
      const id = kept[k] ?? 0;
      ids[offset + k] = id;
      weights[offset + k] = (1 + Math.log(counts[id] ?? 1)) * inv;
    }
    for (let k = 0; k < this.nTouched; k++) counts[this.touched[k] ?? 0] = 0;
    this.nTouched = 0;
    return kept.length;
  }
}

const extractors = new WeakMap<FeatureSpec, Extractor>();

function extractorFor(spec: FeatureSpec): Extractor {
  let extractor = extractors.get(spec);
  if (!extractor) {
    extractor = new Extractor(spec);
    extractors.set(spec, extractor);
  }
  return extractor;
}

export function extractFeatures(text: string, spec: FeatureSpec): Features {
  const ids = new Int32Array(spec.maxLength);
  const weights = new Float32Array(spec.maxLength);
  const count = extractorFor(spec).extractInto(text, ids, weights, 0);
  return { ids, weights, count };
}

export const tier1Features = (text: string): Features => extractFeatures(text, TIER1_FEATURES);
export const tier2Features = (text: string): Features => extractFeatures(text, TIER2_FEATURES);

/** Extracts and packs a batch straight into the ONNX input buffers (the serving hot path). */
export function encodeBatch(texts: readonly string[], spec: FeatureSpec): FeatureBatch {
  const L = spec.maxLength;
  const ids = new Int32Array(texts.length * L);
  const weights = new Float32Array(texts.length * L);
  const extractor = extractorFor(spec);
  texts.forEach((text, row) => {
    extractor.extractInto(text, ids, weights, row * L);
  });
  return { ids, weights, batchSize: texts.length, maxLength: L };
}

/** Packs already extracted rows (all of one spec) into [N, L] buffers. */
export function packBatch(rows: readonly Features[], maxLength: number): FeatureBatch {
  const ids = new Int32Array(rows.length * maxLength);
  const weights = new Float32Array(rows.length * maxLength);
  rows.forEach((row, r) => {
    if (row.ids.length !== maxLength || row.weights.length !== maxLength) {
      throw new FeatureSpecError(`row ${r} has length ${row.ids.length}, expected ${maxLength}`);
    }
    ids.set(row.ids, r * maxLength);
    weights.set(row.weights, r * maxLength);
  });
  return { ids, weights, batchSize: rows.length, maxLength };
}

const FINGERPRINT_PROBE = [
  'From probe@example.com  Mon Jan  1 00:00:00 2001',
  'Subject: Re: FREE $$$ offer -- Grüße, 你好!',
  'From: "Probe" <probe@example.com>',
  'Content-Type: text/plain; charset=utf-8',
  '\tformat=flowed',
  'Received: from nowhere',
  '',
  'Click here now!!! <a href="http://example.com/x?y=1">unsubscribe</a> ',
  `aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQgdGV4dA== call 555-0100 ${'spam '.repeat(3)}ham`,
].join('\n');

/**
 * A hash of the features this build computes for a fixed probe message. The manifest records it at
 * training time and serving compares: equal fingerprints mean the tokenizer has not drifted.
 */
export function featureFingerprint(spec: FeatureSpec): string {
  const { ids, weights } = extractFeatures(FINGERPRINT_PROBE, spec);
  let h = FNV_OFFSET;
  for (let k = 0; k < ids.length; k++) {
    h = Math.imul(h ^ (ids[k] ?? 0), FNV_PRIME);
    h = Math.imul(h ^ Math.round((weights[k] ?? 0) * 1e6), FNV_PRIME);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
