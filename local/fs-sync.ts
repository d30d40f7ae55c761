import { readSync, writeSync } from 'node:fs';

/** Writes all of `buf` at the file's current position: `writeSync` may write less than asked. */
export function writeFully(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/**
 * Reads `length` bytes at `position`; `short()` makes the error thrown when the file ends first
 * (it was truncated or replaced while we held a location in it).
 */
export function readFully(fd: number, length: number, position: number, short: () => Error): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let off = 0;
  while (off < length) {
    const n = readSync(fd, buf, off, length - off, position + off);
    if (n === 0) throw short();
    off += n;
  }
  return buf;
}
