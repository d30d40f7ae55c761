import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { crc32cByte, crc32cUpdate, leveldbMasked } from './crc32c.js';

/**
 * Checks dynalite's LevelDB folder before it is opened. LevelDB does not verify block checksums on
 * reads unless asked (dynalite does not ask): a changed byte in a table file silently loses items or
 * ends the process in a native assertion, and a deleted CURRENT makes it create an empty database
 * over the old files. So, before opening: CURRENT names a manifest that exists; the manifest's
 * records (and the write-ahead .log files') checksums match; every table file the manifest lists is
 * there with its size, and every block in it carries its checksum up to the table's footer.
 */
export class DynamoDbStateError extends Error {
  override readonly name = 'DynamoDbStateError';
  constructor(
    readonly folder: string,
    reason: string,
  ) {
    super(
      `The local DynamoDB state in ${folder} is damaged: ${reason}. The runtime did not open it, and left it as it is. ` +
        'Restore the folder from a backup, or move it away to start with empty tables (tenant quotas and stream sequence state start over); ' +
        '`inferbus local salvage` copies the rest of the state folder without it.',
    );
  }
}

const TABLE_MAGIC = Buffer.from([0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
const FOOTER_BYTES = 48;
const BLOCK_TRAILER_BYTES = 5;
const LOG_BLOCK_BYTES = 32_768;
const LOG_HEADER_BYTES = 7;

/**
 * Throws DynamoDbStateError when `folder` holds a LevelDB database that is not whole. A folder that
 * does not exist, or holds no data yet, passes; `laterState`, when given, names state that exists
 * only if this folder did (a missing folder is then an error too).
 */
export function checkLevelDbFolder(folder: string, laterState?: string): void {
  if (!existsSync(folder)) {
    if (laterState !== undefined)
      throw new DynamoDbStateError(folder, `the folder is missing, yet ${laterState}`);
    return;
  }
  const names = readdirSync(folder);
  const hasData = names.some(
    (n) => /^\d+\.(ldb|sst)$/.test(n) || (/^\d+\.log$/.test(n) && statSync(join(folder, n)).size > 0),
  );
  if (!names.includes('CURRENT')) {
    if (hasData)
      throw new DynamoDbStateError(folder, 'CURRENT is missing, though table and log files are there');
    if (laterState !== undefined)
      throw new DynamoDbStateError(folder, `it holds no database, yet ${laterState}`);
    return;
  }
  const current = readFileSync(join(folder, 'CURRENT'), 'latin1');
  const manifest = /^(MANIFEST-\d+)\n$/.exec(current)?.[1];
  if (manifest === undefined)
    throw new DynamoDbStateError(
      folder,
      `CURRENT does not name a manifest (${JSON.stringify(current.slice(0, 40))})`,
    );
  if (!names.includes(manifest))
    throw new DynamoDbStateError(folder, `CURRENT names ${manifest}, which is missing`);
  const { files, logNumber } = readManifest(folder, manifest);
  for (const [number, size] of files) checkTable(folder, names, number, size);
  for (const name of names) {
    const match = /^(\d+)\.log$/.exec(name);
    if (match && Number(match[1]) >= logNumber) checkLogFile(folder, name);
  }
}

/** Live table files (number to size) and the oldest log still in use, from the manifest's edits. */
function readManifest(folder: string, manifest: string): { files: Map<number, number>; logNumber: number } {
  const files = new Map<number, number>();
  let logNumber = 0;
  for (const edit of logRecords(folder, manifest)) {
    const reader = new Reader(
      edit,
      () => new DynamoDbStateError(folder, `${manifest} holds an edit it cannot parse`),
    );
    while (!reader.done()) {
      const tag = reader.varint();
      if (tag === 1) reader.slice();
      else if (tag === 2) logNumber = reader.varint();
      else if (tag === 3 || tag === 4 || tag === 9) reader.varint();
      else if (tag === 5) {
        reader.varint();
        reader.slice();
      } else if (tag === 6) {
        reader.varint();
        files.delete(reader.varint());
      } else if (tag === 7) {
        reader.varint();
        const number = reader.varint();
        files.set(number, reader.varint());
        reader.slice();
        reader.slice();
      } else throw new DynamoDbStateError(folder, `${manifest} holds an unknown edit tag ${tag}`);
    }
  }
  return { files, logNumber };
}

/** Walks a table's blocks by their checksums (each block is followed by its type and masked CRC-32C) to the footer. */
function checkTable(folder: string, names: readonly string[], number: number, size: number): void {
  const base = String(number).padStart(6, '0');
  const name = names.includes(`${base}.ldb`) ? `${base}.ldb` : `${base}.sst`;
  if (!names.includes(name))
    throw new DynamoDbStateError(folder, `table file ${base}.ldb, listed in the manifest, is missing`);
  const buf = readFileSync(join(folder, name));
  if (buf.length !== size) {
    throw new DynamoDbStateError(
      folder,
      `table file ${name} has ${buf.length} bytes, the manifest says ${size}`,
    );
  }
  const footer = buf.length - FOOTER_BYTES;
  if (footer < 0 || !buf.subarray(buf.length - 8).equals(TABLE_MAGIC)) {
    throw new DynamoDbStateError(folder, `table file ${name} does not end in a table footer`);
  }
  const handles = new Reader(
    buf.subarray(footer),
    () => new DynamoDbStateError(folder, `table file ${name} has a damaged footer`),
  );
  handles.varint();
  handles.varint();
  const indexEnd = handles.varint() + handles.varint() + BLOCK_TRAILER_BYTES;
  if (indexEnd !== footer) throw new DynamoDbStateError(folder, `table file ${name} has a damaged footer`);
  let blockStart = 0;
  while (blockStart < footer) {
    const end = blockEnd(buf, blockStart, footer);
    if (end === undefined) {
      throw new DynamoDbStateError(
        folder,
        `table file ${name}: no block starting at byte ${blockStart} has a matching checksum`,
      );
    }
    blockStart = end + BLOCK_TRAILER_BYTES;
  }
  if (blockStart !== footer)
    throw new DynamoDbStateError(folder, `table file ${name}: its blocks overrun the footer`);
}

/** Where the contents of the block at `start` end: the first place followed by a type byte and the masked CRC of both. */
function blockEnd(buf: Buffer, start: number, footer: number): number | undefined {
  let state = 0xffffffff;
  for (let end = start; end + BLOCK_TRAILER_BYTES <= footer; end++) {
    const type = buf[end] as number;
    if ((type === 0 || type === 1) && leveldbMasked(crc32cByte(state, type)) === buf.readUInt32LE(end + 1))
      return end;
    state = crc32cByte(state, type);
  }
  return undefined;
}

/** Checks the records of a LevelDB log file; an unfinished last record is what a kill leaves, and LevelDB recovers from it. */
function checkLogFile(folder: string, name: string): void {
  for (const _ of logRecords(folder, name));
}

/** The records of a file in LevelDB's log format (the .log files and the manifest), checksums verified. */
function* logRecords(folder: string, name: string): Generator<Buffer> {
  const buf = readFileSync(join(folder, name));
  let pending: Buffer[] = [];
  for (let block = 0; block < buf.length; block += LOG_BLOCK_BYTES) {
    const blockEnd = Math.min(block + LOG_BLOCK_BYTES, buf.length);
    for (let at = block; at + LOG_HEADER_BYTES <= blockEnd; ) {
      const length = buf.readUInt16LE(at + 4);
      const type = buf[at + 6] as number;
      if (type === 0 && length === 0) break; // zero padding to the end of the block
      const dataEnd = at + LOG_HEADER_BYTES + length;
      if (dataEnd > blockEnd) {
        if (blockEnd === buf.length) return; // a torn last record
        throw new DynamoDbStateError(folder, `${name}: the record at byte ${at} runs past its block`);
      }
      const crc = leveldbMasked(
        crc32cUpdate(crc32cByte(0xffffffff, type), buf, at + LOG_HEADER_BYTES, dataEnd),
      );
      if (crc !== buf.readUInt32LE(at)) {
        if (dataEnd === buf.length) return; // a torn last record
        throw new DynamoDbStateError(folder, `${name}: checksum mismatch in the record at byte ${at}`);
      }
      const data = buf.subarray(at + LOG_HEADER_BYTES, dataEnd);
      if (type === 1) yield data;
      else if (type === 2) pending = [data];
      else if (type === 3) pending.push(data);
      else if (type === 4) {
        pending.push(data);
        yield Buffer.concat(pending);
        pending = [];
      } else throw new DynamoDbStateError(folder, `${name}: unknown record type ${type} at byte ${at}`);
      at = dataEnd;
    }
  }
}

/** Varints and length-prefixed slices of a manifest edit. */
class Reader {
  private at = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly bad: () => Error,
  ) {}

  done(): boolean {
    return this.at >= this.buf.length;
  }

  varint(): number {
    let value = 0;
    for (let shift = 1; ; shift *= 128) {
      if (this.at >= this.buf.length || shift > 2 ** 49) throw this.bad();
      const byte = this.buf[this.at++] as number;
      value += (byte & 0x7f) * shift;
      if (byte < 0x80) return value;
    }
  }

  slice(): void {
    const length = this.varint();
    if (this.at + length > this.buf.length) throw this.bad();
    this.at += length;
  }
}
