import * as zstd from '@bokuweb/zstd-wasm';

/**
 * The codec of the packed part of a packed envelope: the requests of one pack as a JSON array,
 * UTF-8, one zstd frame, base64, behind a version tag, so the result is a plain string that sits
 * in the event's JSON `detail`. Chosen by `bench/encoding.ts` (BENCHMARKS.md, "Encoding").
 *
 * The codec knows nothing of the requests' shape: it carries any JSON values, and callers validate
 * each decoded request on its own (so one poison request does not condemn its pack).
 *
 * zstd runs as WebAssembly (@bokuweb/zstd-wasm): node:zlib has no zstd on Node 20. The wasm module
 * compiles once per process, asynchronously, hence {@link createPackCodec}; after that encode and
 * decode are synchronous. The module reads `zstd.wasm` from the directory of the code that loads it:
 * a bundled handler needs that file copied next to its bundle.
 */

/**
 * Names the format, not the settings: `zstd-json-1` = JSON array, UTF-8, one zstd frame with its
 * content size and no dictionary, standard base64. A change to any of that takes a new tag.
 */
export const PACK_CODEC_VERSION = 'zstd-json-1';

/** zstd level the encoder uses; any level decodes the same, so it is not part of the format. */
export const PACK_ZSTD_LEVEL = 1;

/** Largest pack the decoder inflates: far above a 1 MB entry of JSON, far below a Lambda's memory. */
export const MAX_DECODED_PACK_BYTES = 32 * 1024 * 1024;

export type PackDecodeFailure =
  | 'not-a-string'
  | 'no-codec-tag'
  | 'unknown-codec'
  | 'bad-base64'
  | 'not-zstd'
  | 'unsupported-frame'
  | 'too-large'
  | 'truncated'
  | 'corrupt'
  | 'not-json'
  | 'not-a-pack';

/** A packed part that cannot be decoded; `reason` says which check failed. */
export class PackDecodeError extends Error {
  override readonly name = 'PackDecodeError';
  constructor(
    readonly reason: PackDecodeFailure,
    message: string,
  ) {
    super(`cannot decode packed requests (${reason}): ${message}`);
  }
}

export interface PackCodec {
  readonly version: typeof PACK_CODEC_VERSION;
  /** The packed part of a pack of requests: `zstd-json-1:<base64>`. Throws for an empty pack. */
  encode(requests: readonly unknown[]): string;
  /** The requests of a packed part, or a {@link PackDecodeError} naming what is wrong. */
  decode(packed: unknown): unknown[];
}

let zstdReady: Promise<void> | undefined;

/** Where the wasm file lives in the installed package (to copy it beside a bundle). */
export const ZSTD_WASM = 'node_modules/@bokuweb/zstd-wasm/dist/common/zstd.wasm';

/** Compiles the zstd wasm module (once per process) and returns the codec. */
export async function createPackCodec(
  options: { level?: number; maxDecodedBytes?: number } = {},
): Promise<PackCodec> {
  zstdReady ??= zstd.init().catch((error: Error) => {
    zstdReady = undefined;
    throw new Error(
      `cannot load the zstd WebAssembly module the pack codec needs (${error.message}); a bundled handler must ship ${ZSTD_WASM} next to its bundle`,
    );
  });
  await zstdReady;
  const level = options.level ?? PACK_ZSTD_LEVEL;
  const maxDecodedBytes = options.maxDecodedBytes ?? MAX_DECODED_PACK_BYTES;
  return {
    version: PACK_CODEC_VERSION,
    encode: (requests) => encodePack(requests, level),
    decode: (packed) => decodePack(packed, maxDecodedBytes),
  };
}

const TAG = `${PACK_CODEC_VERSION}:`;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function encodePack(requests: readonly unknown[], level: number): string {
  if (!Array.isArray(requests) || requests.length === 0) {
    throw new TypeError('a pack holds at least one request: pass a non-empty array');
  }
  const frame = zstd.compress(Buffer.from(JSON.stringify(requests), 'utf8'), level);
  return TAG + Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('base64');
}

function decodePack(packed: unknown, maxDecodedBytes: number): unknown[] {
  if (typeof packed !== 'string') {
    throw new PackDecodeError('not-a-string', `expected a string "${TAG}<base64>", got ${describe(packed)}`);
  }
  const colon = packed.indexOf(':');
  if (colon < 0) {
    throw new PackDecodeError(
      'no-codec-tag',
      `expected "${TAG}<base64>", got a string without a codec tag starting "${packed.slice(0, 20)}"`,
    );
  }
  const tag = packed.slice(0, colon);
  if (tag !== PACK_CODEC_VERSION) {
    throw new PackDecodeError(
      'unknown-codec',
      `codec "${tag.slice(0, 40)}" is not one this build reads (only "${PACK_CODEC_VERSION}"); deploy consumers that read it before producers write it`,
    );
  }
  const text = packed.slice(colon + 1);
  if (text.length % 4 !== 0 || !BASE64.test(text)) {
    throw new PackDecodeError(
      'bad-base64',
      `the data after "${TAG}" is not standard base64 (${text.length} characters; truncated or altered in transit?)`,
    );
  }
  const frame = Buffer.from(text, 'base64');
  const contentBytes = frameContentSize(frame);
  if (contentBytes > maxDecodedBytes) {
    throw new PackDecodeError(
      'too-large',
      `the frame declares ${contentBytes} bytes of requests, more than the ${maxDecodedBytes} this decoder inflates`,
    );
  }
  let json: Uint8Array;
  try {
    json = zstd.decompress(frame, { defaultHeapSize: contentBytes });
  } catch (error) {
    throw zstdFailure(error as Error, frame.length);
  }
  if (json.byteLength !== contentBytes) {
    throw new PackDecodeError(
      'truncated',
      `the frame declares ${contentBytes} bytes but holds ${json.byteLength}; the packed part was cut short`,
    );
  }
  let requests: unknown;
  try {
    requests = JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8'));
  } catch (error) {
    throw new PackDecodeError('not-json', `the frame does not hold JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(requests) || requests.length === 0) {
    throw new PackDecodeError(
      'not-a-pack',
      `expected a non-empty JSON array of requests, got ${describe(requests)}`,
    );
  }
  return requests;
}

const ZSTD_MAGIC = 0xfd2fb528;

/**
 * The content size a zstd frame header declares (RFC 8878, 3.1.1.1). The encoder always writes it;
 * the decoder needs it to size its buffer and to refuse a frame that would inflate without bound.
 */
function frameContentSize(frame: Buffer): number {
  if (frame.length < 6 || frame.readUInt32LE(0) !== ZSTD_MAGIC) {
    throw new PackDecodeError(
      'not-zstd',
      `the data is not a zstd frame (${frame.length} bytes, no zstd magic number)`,
    );
  }
  const descriptor = frame[4] as number;
  const sizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictionaryFlag = descriptor & 3;
  if (dictionaryFlag !== 0) {
    throw new PackDecodeError(
      'unsupported-frame',
      `the frame needs a dictionary, which "${PACK_CODEC_VERSION}" never uses`,
    );
  }
  const sizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][sizeFlag] as number;
  if (sizeBytes === 0) {
    throw new PackDecodeError('unsupported-frame', 'the frame does not declare its content size');
  }
  const at = 5 + (singleSegment ? 0 : 1);
  if (frame.length < at + sizeBytes) {
    throw new PackDecodeError('truncated', `the frame header is cut short (${frame.length} bytes)`);
  }
  switch (sizeBytes) {
    case 1:
      return frame.readUInt8(at);
    case 2:
      return frame.readUInt16LE(at) + 256;
    case 4:
      return frame.readUInt32LE(at);
    default: {
      const size = frame.readBigUInt64LE(at);
      return size > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(size);
    }
  }
}

/** zstd's error codes (zstd_errors.h) for the failures a damaged frame produces. */
const ZSTD_ERRORS: Record<number, [PackDecodeFailure, string]> = {
  20: ['corrupt', 'the compressed data is corrupt'],
  22: ['corrupt', 'the frame checksum does not match'],
  70: ['corrupt', 'the data inflates to more than the frame declares'],
  72: ['truncated', 'the frame is cut short'],
};

function zstdFailure(error: Error, frameBytes: number): PackDecodeError {
  const code = Math.abs(Number(/code (-?\d+)/.exec(error.message)?.[1] ?? Number.NaN));
  const [reason, text] = ZSTD_ERRORS[code] ?? ['corrupt', `zstd cannot decompress it (${error.message})`];
  return new PackDecodeError(reason, `${text} (${frameBytes} bytes of frame)`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
