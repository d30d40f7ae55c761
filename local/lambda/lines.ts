import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * Splits a stream into whole lines, so log lines from concurrent workers never interleave
 * mid-line. A line longer than `maxLineChars` is emitted in pieces rather than buffered forever;
 * whatever is left when the stream ends is emitted as a last line.
 */
export function forEachLine(
  stream: Readable,
  onLine: (line: string) => void,
  maxLineChars = 64 * 1024,
): void {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const drain = (text: string) => {
    pending += text;
    let newline = pending.indexOf('\n');
    while (newline !== -1) {
      onLine(pending.slice(0, newline).replace(/\r$/, ''));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
    while (pending.length > maxLineChars) {
      onLine(pending.slice(0, maxLineChars));
      pending = pending.slice(maxLineChars);
    }
  };
  stream.on('data', (chunk: Buffer) => drain(decoder.write(chunk)));
  stream.on('end', () => {
    drain(decoder.end());
    if (pending !== '') onLine(pending);
    pending = '';
  });
}

/** Keeps the last `limit` lines (for a crashed worker's error message). */
export class LineTail {
  private readonly lines: string[] = [];

  constructor(private readonly limit = 20) {}

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.limit) this.lines.shift();
  }

  text(): string {
    return this.lines.join('\n');
  }
}
