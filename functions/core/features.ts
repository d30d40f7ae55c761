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
 * maxHeaderChars of the header block are read, which bounds the cost of huge messages. A text has
 * a header block only when it starts like a mail message (see headerBounds); other text is all body.
 *
 * The algorithm is versioned by FEATURE_ALGORITHM; any change to what this file computes must bump
 * it (the manifest's fingerprint check catches a forgotten bump). One exception was made, on
 * purpose: plain text that merely started like a header ("Refund: ...") used to yield no features;
 * reading it as body changed no row of the SpamAssassin corpus the models were trained on (a test
 * pins the corpus digest) nor the fingerprint probe, so the trained models stay valid under v1.
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

/**
 * A code unit's lower-cased value when it is a word char, 0 when it is not (0 is never a word char):
 * one table load instead of isWordChar + lower in the hot loops.
 */
const WORD_CHARS = Uint16Array.from({ length: 0x10000 }, (_, c) => (isWordChar(c) ? lower(c) : 0));

/** Whether text[start, end), all ASCII, lower-cases (A-Z only) to `name`. */
function equalsAsciiLowerCased(text: string, start: number, end: number, name: string): boolean {
  if (end - start !== name.length) return false;
  for (let i = start; i < end; i++) {
    if (lower(text.charCodeAt(i)) !== name.charCodeAt(i - start)) return false;
  }
  return true;
}

/**
 * Index where the header block ends and where the body starts; (0, 0) when the text is not a mail
 * message, so all of it is body. A header block needs a blank line after it and a first line that
 * only a mail message starts with (see startsLikeMail): plain text such as "Refund: I was charged
 * twice" or "From what I can see..." is read as body, never as a header that the spec skips.
 */
function headerBounds(text: string): { headerEnd: number; bodyStart: number } {
  const lf = text.indexOf('\n\n');
  const crlf = text.indexOf('\r\n\r\n');
  if ((lf < 0 && crlf < 0) || !startsLikeMail(text)) return { headerEnd: 0, bodyStart: 0 };
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { headerEnd: crlf, bodyStart: crlf + 4 };
  return { headerEnd: lf, bodyStart: lf + 2 };
}

/**
 * An mbox "From " line (sender, then an asctime date: `From a@b.c  Mon Aug 26 10:00:00 2002`), or a
 * first line `Name:` where Name is a mail header (RFC 5322, transport or `X-`). Every message of the
 * SpamAssassin corpus starts with one of these (mbox, Return-Path, Received, Delivered-To, X-Status).
 */
const MBOX_FROM_LINE =
  /^From \S[^\n]*? (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? +(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} +\d{1,2}:\d{2}/;
const MAIL_HEADER_LINE =
  /^(?:x-[a-z0-9-]+|return-path|received|delivered-to|envelope-to|from|sender|reply-to|to|cc|bcc|subject|date|message-id|in-reply-to|references|mime-version|content-type|content-transfer-encoding|status):/i;

function startsLikeMail(text: string): boolean {
  // The first line is all either pattern reads; a bounded slice keeps a huge one-line text cheap.
  const head = text.slice(0, 1000);
  return MAIL_HEADER_LINE.test(head) || MBOX_FROM_LINE.test(head);
}

/** Mutable scratch state for one spec; extraction is synchronous, so one instance per spec suffices. */
class Extractor {
  private readonly counts: Float32Array;
  private readonly touched: Int32Array;
  private nTouched = 0;
  /** spec.hashSeed and spec.vocabSize - 1 (the number of non-padding buckets), read per feature. */
  private readonly hashSeed: number;
  private readonly buckets: number;
  private readonly headerSalts: Map<string, number>;
  /** The keys and values of headerSalts as arrays, for the allocation-free ASCII match. */
  private readonly headerNames: string[];
  private readonly headerSaltList: number[];
  /** Scratch for flush: the row's weights, a histogram of counts (last bin: 255 and up), an id bitmap. */
  private readonly rowWeights: Float64Array;
  private readonly histogram = new Int32Array(256);
  private readonly bitmap: Int32Array;
  /** Scratch for charGrams: BOUNDARY, the word, BOUNDARY; grown on demand (maxTokenLength is unbounded). */
  private paddedWord = new Uint16Array(64);

  constructor(readonly spec: FeatureSpec) {
    assertValidSpec(spec);
    this.counts = new Float32Array(spec.vocabSize);
    this.hashSeed = spec.hashSeed;
    this.buckets = spec.vocabSize - 1;
    this.touched = new Int32Array(spec.vocabSize);
    this.headerSalts = new Map(spec.headers.map((h) => [h.toLowerCase(), fieldSalt(h.toLowerCase())]));
    this.headerNames = [...this.headerSalts.keys()];
    this.headerSaltList = [...this.headerSalts.values()];
    this.rowWeights = new Float64Array(spec.maxLength);
    this.bitmap = new Int32Array(Math.ceil(spec.vocabSize / 32));
  }

  /** Writes one row into ids/weights at `offset` (which the caller has zeroed); returns its count. */
  extractInto(text: string, ids: Int32Array, weights: Float32Array, offset: number): number {
    this.countBuckets(text);
    return this.flush(ids, weights, offset);
  }

  /** The bucket counts of one message before row selection, in first-occurrence order. */
  bucketCounts(text: string): Map<number, number> {
    this.countBuckets(text);
    const result = new Map<number, number>();
    for (let k = 0; k < this.nTouched; k++) {
      const id = this.touched[k] as number;
      result.set(id, this.counts[id] as number);
    }
    this.reset();
    return result;
  }

  private countBuckets(text: string): void {
    const { headerEnd, bodyStart } = headerBounds(text);
    this.scanHeaders(text, Math.min(headerEnd, this.spec.maxHeaderChars));
    this.scan(text, bodyStart, Math.min(text.length, bodyStart + this.spec.maxBodyChars), SALT_BODY);
  }

  private reset(): void {
    for (let k = 0; k < this.nTouched; k++) this.counts[this.touched[k] as number] = 0;
    this.nTouched = 0;
  }

  private add(key: number): void {
    const counts = this.counts;
    const bucket = 1 + (fmix32(key ^ this.hashSeed) % this.buckets);
    const count = counts[bucket] as number;
    if (count === 0) this.touched[this.nTouched++] = bucket;
    counts[bucket] = count + 1;
  }

  private scanHeaders(text: string, end: number): void {
    let lineStart = 0;
    while (lineStart < end) {
      let lineEnd = text.indexOf('\n', lineStart);
      if (lineEnd < 0 || lineEnd > end) lineEnd = end;
      const colon = text.indexOf(':', lineStart);
      const first = text.charCodeAt(lineStart);
      if (colon > lineStart && colon < lineEnd && first !== 32 && first !== 9) {
        const salt = this.headerSalt(text, lineStart, colon);
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

  /**
   * The salt of the header named text[start, end) when the spec reads it, compared case-insensitively
   * like `name.toLowerCase()`. Header names are nearly always ASCII, where toLowerCase is plain ASCII
   * lower-casing, so those are matched in place instead of allocating a lower-cased copy per line.
   */
  private headerSalt(text: string, start: number, end: number): number | undefined {
    for (let i = start; i < end; i++) {
      if (text.charCodeAt(i) >= 128) return this.headerSalts.get(text.slice(start, end).toLowerCase());
    }
    const names = this.headerNames;
    for (let k = 0; k < names.length; k++) {
      if (equalsAsciiLowerCased(text, start, end, names[k] as string)) return this.headerSaltList[k];
    }
    return undefined;
  }

  private scan(text: string, start: number, end: number, salt: number): void {
    const { wordBigrams, charNgram, maxTokenLength } = this.spec;
    let prev = 0;
    let hasPrev = false;
    let i = start;
    while (i < end) {
      const c = text.charCodeAt(i);
      let d = WORD_CHARS[c] as number;
      let token: number;
      if (d !== 0) {
        const s = i;
        let h = FNV_OFFSET;
        do {
          h = Math.imul(h ^ d, FNV_PRIME);
          if (++i === end) break;
          d = WORD_CHARS[text.charCodeAt(i)] as number;
        } while (d !== 0);
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
    // The padded, lower-cased word, read once; the grams overlap and read each unit up to n times.
    const length = end - start + 2;
    if (this.paddedWord.length < length) this.paddedWord = new Uint16Array(2 * length);
    const padded = this.paddedWord;
    padded[0] = BOUNDARY;
    for (let i = start; i < end; i++) padded[i - start + 1] = WORD_CHARS[text.charCodeAt(i)] as number;
    padded[length - 1] = BOUNDARY;
    const grams = Math.max(1, length - n + 1);
    for (let g = 0; g < grams; g++) {
      let h = FNV_OFFSET;
      const stop = Math.min(g + n, length);
      for (let j = g; j < stop; j++) h = Math.imul(h ^ (padded[j] as number), FNV_PRIME);
      this.add(h ^ salt ^ SALT_CHARGRAM);
    }
  }

  private flush(ids: Int32Array, weights: Float32Array, offset: number): number {
    const { maxLength } = this.spec;
    const counts = this.counts;
    const touched = this.touched;
    const n = this.nTouched;
    const kept = ids.subarray(offset, offset + Math.min(n, maxLength));
    if (n > maxLength) this.selectMostFrequent(kept);
    else kept.set(touched.subarray(0, n));
    this.sortAscending(kept);
    // Summed in ascending id order, as always: float addition is not associative.
    const w = this.rowWeights;
    let norm = 0;
    for (let k = 0; k < kept.length; k++) {
      const wk = weightOf(counts[kept[k] as number] as number);
      w[k] = wk;
      norm += wk * wk;
    }
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let k = 0; k < kept.length; k++) weights[offset + k] = (w[k] as number) * inv;
    this.reset();
    return kept.length;
  }

  /**
   * Sorts distinct bucket ids ascending, like `ids.sort()`, by setting their bits in a bitmap over
   * [0, vocabSize) and reading the bits back in order: linear, about twice as fast as a comparison
   * sort for a full row. The bitmap is left all zero again.
   */
  private sortAscending(ids: Int32Array): void {
    const bits = this.bitmap;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k] as number;
      bits[id >>> 5] = (bits[id >>> 5] as number) | (1 << (id & 31));
    }
    let j = 0;
    for (let w = 0; j < ids.length; w++) {
      let word = bits[w] as number;
      if (word === 0) continue;
      bits[w] = 0;
      while (word !== 0) {
        const lowest = word & -word;
        ids[j++] = (w << 5) | (31 - Math.clz32(lowest));
        word ^= lowest;
      }
    }
  }

  /**
   * Fills `out` with the out.length most frequent touched buckets, ties going to the first touched:
   * the same set as the first out.length of a stable sort of `touched` (first-occurrence order) by
   * descending count. With t the count at position out.length in that order, the sort puts every
   * bucket above t first and then the buckets at t in first-occurrence order; so the set is "all
   * above t, plus the first ones at t", and t can be found from a histogram of counts, no sort needed.
   */
  private selectMostFrequent(out: Int32Array): void {
    const counts = this.counts;
    const touched = this.touched;
    const n = this.nTouched;
    const want = out.length;
    const { t, above } = this.countThreshold(want);
    let atThreshold = want - above;
    let j = 0;
    for (let k = 0; k < n && j < want; k++) {
      const id = touched[k] as number;
      const c = counts[id] as number;
      if (c > t) out[j++] = id;
      else if (c === t && atThreshold > 0) {
        out[j++] = id;
        atThreshold--;
      }
    }
  }

  /** The count t of the want-th most frequent touched bucket, and how many buckets count more than t. */
  private countThreshold(want: number): { t: number; above: number } {
    const counts = this.counts;
    const touched = this.touched;
    const n = this.nTouched;
    const hist = this.histogram;
    const last = hist.length - 1;
    hist.fill(0);
    for (let k = 0; k < n; k++) {
      const c = counts[touched[k] as number] as number;
      const bin = Math.min(c, last);
      hist[bin] = (hist[bin] as number) + 1;
    }
    // Walk down from the highest bin until `want` buckets are reached; n > want, so t stays >= 1.
    let t = last;
    let above = 0;
    while (above + (hist[t] as number) < want) above += hist[t--] as number;
    if (t < last) return { t, above };
    // Rare: the threshold lies among the counts >= last, which share one bin; sort just those.
    const m = hist[last] as number;
    const sorted = new Float64Array(m);
    for (let k = 0, j = 0; k < n; k++) {
      const c = counts[touched[k] as number] as number;
      if (c >= last) sorted[j++] = c;
    }
    sorted.sort();
    t = sorted[m - want] as number;
    above = 0;
    for (let k = m - 1; k >= 0 && (sorted[k] as number) > t; k--) above++;
    return { t, above };
  }
}

/** 1 + ln(count), the weight of a bucket before normalisation; small counts come from a table. */
const WEIGHT_TABLE = Float64Array.from({ length: 1024 }, (_, c) => 1 + Math.log(c));

function weightOf(count: number): number {
  return count < 1024 ? (WEIGHT_TABLE[count] as number) : 1 + Math.log(count);
}

const extractors = new WeakMap<FeatureSpec, Extractor>();

/** The (cached) extractor of a spec: `extractInto` writes one row and returns its feature count. */
export function makeExtractor(spec: FeatureSpec): Pick<Extractor, 'extractInto'> {
  return extractorFor(spec);
}

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

/**
 * Every bucket a message touches with its count, in first-occurrence order, before the row keeps the
 * maxLength most frequent (ties to the first touched): for tests and for debugging a row.
 */
export function bucketCounts(text: string, spec: FeatureSpec): Map<number, number> {
  return extractorFor(spec).bucketCounts(text);
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
