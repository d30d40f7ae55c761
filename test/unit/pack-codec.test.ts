import { gzipSync } from 'node:zlib';
import * as zstd from '@bokuweb/zstd-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createPackCodec,
  PACK_CODEC_VERSION,
  type PackCodec,
  PackDecodeError,
} from '../../functions/core/packing/codec';

const requests = [
  {
    id: 'demo-acme-000001',
    stream: 'inbox',
    seq: 1,
    hlc: '1795824000000-0-demo',
    time: '2026-11-28T00:00:00.000Z',
    payload: {
      text: 'Subject: caf\u00e9 \u2603 \ud83d\ude00\r\n\r\nline "two"\\ \u0000',
      expectedLabel: 'spam',
    },
    metadata: { corpusKey: 'spam-1/00001' },
  },
  {
    id: 'sensor-007-00000042',
    stream: 'sensor-007',
    seq: 42,
    hlc: '1795824000007-3-gw1',
    time: '2026-12-01T00:00:00.007Z',
    payload: { features: [0.1 + 0.2, 1e-300, Math.fround(1 / 3), 123456.78, Number.MAX_SAFE_INTEGER] },
    metadata: {},
  },
  { anything: ['a payload shape the codec has never seen', { nested: true, n: null }] },
];

/** The base64 frame of a packed part, to damage it. */
const frameOf = (packed: string) => Buffer.from(packed.slice(PACK_CODEC_VERSION.length + 1), 'base64');
const packedOf = (frame: Uint8Array) => `${PACK_CODEC_VERSION}:${Buffer.from(frame).toString('base64')}`;

function failure(codec: PackCodec, packed: unknown): PackDecodeError {
  try {
    codec.decode(packed);
  } catch (error) {
    expect(error).toBeInstanceOf(PackDecodeError);
    return error as PackDecodeError;
  }
  throw new Error('decode accepted it');
}

describe('pack codec (zstd-json-1)', () => {
  let codec: PackCodec;
  beforeAll(async () => {
    codec = await createPackCodec();
  });

  it('round-trips requests of any shape exactly (toEqual tells -0 from 0): unicode and escapes in text, every double in features', () => {
    const packed = codec.encode(requests);
    expect(codec.decode(packed)).toEqual(requests);
  });

  it('writes a plain string that fits a JSON detail, tagged with the codec version, and compresses', () => {
    const many = Array.from({ length: 50 }, (_, i) => ({ ...requests[0], id: `demo-acme-${i}`, seq: i }));
    const packed = codec.encode(many);
    expect(packed.startsWith(`${PACK_CODEC_VERSION}:`)).toBe(true);
    expect(JSON.parse(JSON.stringify({ data: packed })).data).toBe(packed);
    expect(packed).toMatch(/^zstd-json-1:[A-Za-z0-9+/]+={0,2}$/);
    expect(packed.length).toBeLessThan(JSON.stringify(many).length / 5);
  });

  it("a second codec in the same process shares the compiled module and reads the first one's packs", async () => {
    const other = await createPackCodec({ level: 9 });
    expect(other.decode(codec.encode(requests))).toEqual(requests);
    expect(codec.decode(other.encode(requests))).toEqual(requests);
  });

  it('refuses to encode an empty pack', () => {
    expect(() => codec.encode([])).toThrow(/at least one request/);
  });

  it('names a future codec it cannot read, and says to deploy readers first', () => {
    const packed = codec.encode(requests).replace(PACK_CODEC_VERSION, 'zstd-json-2');
    const error = failure(codec, packed);
    expect(error.reason).toBe('unknown-codec');
    expect(error.message).toMatch(
      /"zstd-json-2" is not one this build reads \(only "zstd-json-1"\); deploy consumers/,
    );
  });

  it('refuses what is not a tagged string', () => {
    expect(failure(codec, { requests }).reason).toBe('not-a-string');
    expect(failure(codec, requests).message).toMatch(/got an array of 3/);
    const untagged = failure(codec, Buffer.from('hello').toString('base64'));
    expect(untagged.reason).toBe('no-codec-tag');
    expect(untagged.message).toMatch(/without a codec tag/);
  });

  it('refuses data that is not standard base64', () => {
    const packed = codec.encode(requests);
    expect(failure(codec, `${packed.slice(0, 40)}*${packed.slice(41)}`).reason).toBe('bad-base64');
    expect(failure(codec, packed.slice(0, -1)).message).toMatch(/not standard base64.*truncated/);
  });

  it('says a truncated packed part is truncated', () => {
    const packed = codec.encode(requests);
    const cut = packed.slice(0, packed.length - 8); // still whole base64 quads
    const error = failure(codec, cut);
    expect(error.reason).toBe('truncated');
    expect(error.message).toMatch(/cut short/);
    expect(failure(codec, packedOf(frameOf(packed).subarray(0, 6))).reason).toBe('truncated');
  });

  it('refuses a frame that is not zstd, or that needs what zstd-json-1 never writes', () => {
    expect(failure(codec, packedOf(gzipSync(JSON.stringify(requests)))).reason).toBe('not-zstd');
    const frame = frameOf(codec.encode(requests));
    const withDictionary = Buffer.from(frame);
    withDictionary[4] = (withDictionary[4] as number) | 1;
    expect(failure(codec, packedOf(withDictionary)).message).toMatch(/needs a dictionary/);
    const withoutSize = Buffer.from(frame);
    withoutSize[4] = (withoutSize[4] as number) & 0b0001_1111 & ~0b0010_0000;
    expect(failure(codec, packedOf(withoutSize)).message).toMatch(/does not declare its content size/);
  });

  it('says a damaged frame is corrupt', () => {
    const frame = Buffer.from(frameOf(codec.encode(requests)));
    // A single-segment frame header is 5 bytes and the content size; the first block header follows.
    const blockHeader = 5 + ([1, 2, 4, 8][(frame[4] as number) >> 6] as number);
    frame[blockHeader] = 0xff; // block type 3 (reserved): corruption
    frame[blockHeader + 1] = 0xff;
    const error = failure(codec, packedOf(frame));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toMatch(/cannot decode packed requests \(corrupt\)/);
  });

  it('refuses a frame that would inflate past its limit before inflating it', async () => {
    const small = await createPackCodec({ maxDecodedBytes: 100 });
    const error = failure(small, codec.encode(requests));
    expect(error.reason).toBe('too-large');
    expect(error.message).toMatch(/declares \d+ bytes of requests, more than the 100/);
  });

  it('refuses a frame that holds no JSON array of requests', () => {
    const zstdOf = (text: string) => packedOf(zstd.compress(Buffer.from(text), 1));
    expect(failure(codec, zstdOf('not json')).reason).toBe('not-json');
    expect(failure(codec, zstdOf('{"id":"x"}')).message).toMatch(
      /expected a non-empty JSON array of requests, got an object/,
    );
    expect(failure(codec, zstdOf('[]')).reason).toBe('not-a-pack');
  });
});
