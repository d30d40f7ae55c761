import { crc32 } from 'node:zlib';

/**
 * Checksums of the local runtime's durable records (the SQS state log, the Firehose write-ahead
 * log). Each record starts with the CRC-32 (node:zlib, the IEEE polynomial; native, about 0.1 µs
 * for a 1 KiB record here) of the rest of its bytes, as 8 lowercase hex digits and a space. Text,
 * so the files stay readable with `less`; a fixed width, so the checksum can be written after the
 * record is encoded in place.
 */
export const CHECKSUM_PREFIX_BYTES = 9;

const HEX = Buffer.from('0123456789abcdef', 'latin1');
const SPACE = 0x20;

export function checksumOf(bytes: Uint8Array): number {
  return crc32(bytes);
}

/** Writes the prefix of the record at `start`, whose bytes after the prefix end at `end`. */
export function writeChecksum(buf: Buffer, start: number, end: number): void {
  let crc = crc32(buf.subarray(start + CHECKSUM_PREFIX_BYTES, end));
  for (let i = start + 7; i >= start; i--) {
    buf[i] = HEX[crc & 0xf] as number;
    crc >>>= 4;
  }
  buf[start + 8] = SPACE;
}

/** The checksum a record prefix at `start` names; undefined when the bytes there are not a prefix. */
export function readChecksum(buf: Uint8Array, start: number): number | undefined {
  if (start + CHECKSUM_PREFIX_BYTES > buf.length || buf[start + 8] !== SPACE) return undefined;
  let crc = 0;
  for (let i = start; i < start + 8; i++) {
    const digit = hexDigit(buf[i] as number);
    if (digit < 0) return undefined;
    crc = crc * 16 + digit;
  }
  return crc;
}

/** Whether `bytes` could be the start of a record prefix that the file cut short. */
export function couldBePrefixStart(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length && i < CHECKSUM_PREFIX_BYTES; i++) {
    const ok = i === 8 ? bytes[i] === SPACE : hexDigit(bytes[i] as number) >= 0;
    if (!ok) return false;
  }
  return true;
}

export function hex8(crc: number): string {
  return crc.toString(16).padStart(8, '0');
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}
