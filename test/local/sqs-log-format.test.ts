import {
  appendFileSync,
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { QueueModel } from '../../local/model.js';
import { SqsStateError } from '../../local/sqs/errors.js';
import type { BodyLocation } from '../../local/sqs/queue.js';
import { decodeRecord, LogRecordError, sendRecordBody } from '../../local/sqs/record-decode.js';
import { readRecords } from '../../local/sqs/record-reader.js';
import { encodeRecord, type LogRecord, RecordBuffer, type SendRecord } from '../../local/sqs/records.js';
import { QueueStore } from '../../local/sqs/store.js';

const OTHER: QueueModel = {
  logicalId: 'other',
  name: 'other',
  arn: 'arn:aws:sqs:us-east-1:000000000000:other',
  url: 'http://127.0.0.1:4566/000000000000/other',
  visibilityTimeoutSeconds: 30,
  messageRetentionSeconds: 345_600,
};
const NOW = 1_700_000_000_000;
const BODY = '{"k":"v \\"q\\"\n\u00e9\u{1F600}"}\nsecond line';

const dirs: string[] = [];
const stores: QueueStore[] = [];

function open(dir: string, options: { memoryBodyBytes?: number } = {}) {
  const warnings: string[] = [];
  const store = new QueueStore([OTHER], {
    stateDir: dir,
    now: () => NOW,
    warn: (m) => warnings.push(m),
    ...options,
  });
  stores.push(store);
  return { store, warnings, file: join(dir, 'sqs', 'queues.log') };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-sqs-log-'));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('SQS log record encoding', () => {
  const send: SendRecord = { t: 's', q: 'other', id: 'm1', b: BODY, ts: NOW };

  it('writes a send record as its checksum, a JSON line with the body length, then the raw body', () => {
    const bytes = encodeRecord(send);
    const head = `{"t":"s","q":"other","id":"m1","ts":${NOW},"bl":${Buffer.byteLength(BODY)}}\n`;
    const rest = Buffer.from(`${head}${BODY}\n`);
    expect(bytes.toString('utf8')).toBe(`${crc32(rest).toString(16).padStart(8, '0')} ${rest}`);
    const decoded = decodeRecord(bytes, 0, true);
    expect(decoded).toMatchObject({ kind: 'record', end: bytes.length, record: send });
  });

  it('reads version 1 records, whose body is a JSON string', () => {
    const line = Buffer.from(`${JSON.stringify(send)}\n`);
    expect(decodeRecord(line, 0, false)).toEqual({ kind: 'record', record: send, end: line.length });
  });

  it('reports a record cut short as incomplete, and broken framing or a changed byte as an error', () => {
    const bytes = encodeRecord(send);
    expect(decodeRecord(bytes.subarray(0, bytes.length - 1), 0, true).kind).toBe('incomplete');
    expect(decodeRecord(bytes.subarray(0, 5), 0, true).kind).toBe('incomplete');
    expect(decodeRecord(bytes.subarray(0, 20), 0, true).kind).toBe('incomplete');
    const noNewline = Buffer.concat([bytes.subarray(0, bytes.length - 1), Buffer.from('xx')]);
    expect(() => decodeRecord(noNewline, 0, true)).toThrow(LogRecordError);
    const changed = Buffer.from(bytes);
    changed[changed.length - 3] = (changed[changed.length - 3] as number) ^ 1;
    expect(() => decodeRecord(changed, 0, true)).toThrow(/checksum mismatch/);
    expect(() => decodeRecord(Buffer.from('{"t":"s","bl":-1}\n\n'), 0, false)).toThrow(
      /impossible body length/,
    );
    expect(() => decodeRecord(Buffer.from('[1]\n'), 0, false)).toThrow(/not a log record/);
    expect(() => decodeRecord(Buffer.from('{"t":"d"}\n'), 0, true)).toThrow(/no record checksum/);
  });
});

describe('SQS log record buffer and bulk reads', () => {
  const send: SendRecord = {
    t: 's',
    q: 'other',
    id: 'm1',
    b: BODY,
    ts: NOW,
    a: { k: { DataType: 'String', StringValue: 'v' } },
  };
  const records: LogRecord[] = [
    send,
    { t: 'r', q: 'other', id: 'm1', k: 'tok', v: NOW + 1, f: NOW },
    { ...send, id: 'm2', b: 'x'.repeat(100_000), v: NOW + 5 },
    { t: 'd', q: 'other', id: 'm1' },
  ];

  it('encodes records back to back exactly as encodeRecord does, growing as needed', () => {
    const out = new RecordBuffer(16);
    const starts = records.map((r) => out.push(r));
    expect(out.bytes()).toEqual(Buffer.concat(records.map(encodeRecord)));
    expect(starts[1]).toBe(encodeRecord(send).length);
    const { b, ...head } = send;
    const fromBytes = new RecordBuffer(16);
    fromBytes.pushSend(head, Buffer.from(b, 'utf8'));
    expect(fromBytes.bytes()).toEqual(encodeRecord(send));
  });

  it('finds the body of a send record, of either version, only for its message id', () => {
    const v3 = encodeRecord(send);
    expect(sendRecordBody(v3, 'm1', true)?.toString('utf8')).toBe(BODY);
    expect(sendRecordBody(v3, 'm2', true)).toBeUndefined();
    expect(sendRecordBody(v3.subarray(0, v3.length - 1), 'm1', true)).toBeUndefined();
    expect(sendRecordBody(encodeRecord(records[1] as LogRecord), 'm1', true)).toBeUndefined();
    const changed = Buffer.from(v3);
    changed[changed.length - 2] = (changed[changed.length - 2] as number) ^ 1;
    expect(sendRecordBody(changed, 'm1', true)).toBeUndefined();
    const v2 = Buffer.from(
      `${JSON.stringify({ ...send, b: undefined, bl: Buffer.byteLength(BODY) })}\n${BODY}\n`,
    );
    expect(sendRecordBody(v2, 'm1', false)?.toString('utf8')).toBe(BODY);
    const v1 = Buffer.from(`${JSON.stringify(send)}\n`);
    expect(sendRecordBody(v1, 'm1', false)?.toString('utf8')).toBe(BODY);
  });

  it('reads records near and far apart, in any order, each whole', () => {
    const dir = tempDir();
    const file = join(dir, 'records');
    // Small records, gaps wider than one read takes, and more than one read's worth in all.
    const parts = [3, 40_000, 5, 70_000, 600_000, 8, 700_000, 2].map((n, i) => Buffer.alloc(n, 97 + i));
    writeFileSync(file, Buffer.concat(parts));
    const locations: BodyLocation[] = [];
    for (let offset = 0, i = 0; i < parts.length; offset += (parts[i] as Buffer).length, i++) {
      locations.push({ offset, length: (parts[i] as Buffer).length });
    }
    const wanted = [7, 0, 2, 5, 4, 6, 1].map((i) => locations[i] as BodyLocation);
    const fd = openSync(file, 'r');
    try {
      const read = readRecords(fd, wanted, (offset) => new Error(`short at ${offset}`));
      expect(read).toEqual([7, 0, 2, 5, 4, 6, 1].map((i) => parts[i]));
      expect(() =>
        readRecords(fd, [{ offset: 10, length: 3_000_000 }], (o) => new Error(`short at ${o}`)),
      ).toThrow('short at 10');
    } finally {
      closeSync(fd);
    }
  });
});

describe('SQS log on disk', () => {
  it('keeps bodies with newlines, quotes and non-ASCII through a restart, from memory or the log', async () => {
    const dir = tempDir();
    const a = open(dir, { memoryBodyBytes: 0 });
    await a.store.send('other', BODY);
    expect((await a.store.receive('other', { maxMessages: 1, visibilityTimeoutSeconds: 0 }))[0]?.body).toBe(
      BODY,
    );
    a.store.close();
    const b = open(dir);
    expect((await b.store.receive('other', { maxMessages: 1 }))[0]?.body).toBe(BODY);
  });

  it('cuts off a send record whose body was torn by a kill and keeps the rest', async () => {
    const dir = tempDir();
    const a = open(dir);
    await a.store.send('other', 'kept');
    a.store.close();
    const size = readFileSync(a.file).length;
    const torn = encodeRecord({ t: 's', q: 'other', id: 'torn', ts: NOW, b: 'x'.repeat(100) });
    appendFileSync(a.file, torn.subarray(0, torn.length - 30));
    const b = open(dir);
    expect(b.warnings.join('\n')).toContain(
      `${a.file} ended in an incomplete record at byte ${size} (${torn.length - 30} of the ${torn.length} bytes of the record of message torn (queue other))`,
    );
    expect(b.store.counts('other').visible).toBe(1);
    expect(readFileSync(b.file).length).toBe(size);
    expect(readFileSync(`${a.file}.torn-at-${size}`)).toEqual(torn.subarray(0, torn.length - 30));
  });

  it('reads a version 1 log and rewrites it as version 3', async () => {
    const dir = tempDir();
    const a = open(dir);
    a.store.close();
    const v1 = [
      { t: 'h', format: 'inferbus-sqs-log', v: 1 },
      { t: 's', q: 'other', id: 'old-1', b: BODY, ts: NOW },
      { t: 's', q: 'other', id: 'old-2', b: 'two', ts: NOW },
      { t: 'd', q: 'other', id: 'old-2' },
    ];
    writeFileSync(a.file, v1.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const b = open(dir);
    expect(readFileSync(b.file, 'utf8').split('\n')[0]).toMatch(
      /^[0-9a-f]{8} \{"t":"h","format":"inferbus-sqs-log","v":3\}$/,
    );
    await b.store.send('other', 'new');
    b.store.close();
    const c = open(dir);
    const bodies = (await c.store.receive('other', { maxMessages: 10 })).map((m) => m.body);
    expect(bodies.sort()).toEqual([BODY, 'new'].sort());
  });

  it('reads a version 2 log (no checksums), bodies dropped from memory included, and rewrites it as version 3', async () => {
    const dir = tempDir();
    open(dir).store.close();
    const file = join(dir, 'sqs', 'queues.log');
    const send = (id: string, body: string) =>
      `{"t":"s","q":"other","id":"${id}","ts":${NOW},"bl":${Buffer.byteLength(body)}}\n${body}\n`;
    writeFileSync(
      file,
      `{"t":"h","format":"inferbus-sqs-log","v":2}\n${send('a', BODY)}${send('b', 'bee')}{"t":"d","q":"other","id":"b"}\n`,
    );
    const b = open(dir, { memoryBodyBytes: 0 });
    expect(readFileSync(file, 'utf8')).toMatch(
      /^[0-9a-f]{8} \{"t":"h","format":"inferbus-sqs-log","v":3\}\n[0-9a-f]{8} \{/,
    );
    expect((await b.store.receive('other', { maxMessages: 10 })).map((m) => m.body)).toEqual([BODY]);
  });

  it('refuses a log of an unknown version, naming the versions it reads', () => {
    const dir = tempDir();
    open(dir).store.close();
    const file = join(dir, 'sqs', 'queues.log');
    writeFileSync(file, '{"t":"h","format":"inferbus-sqs-log","v":4}\n');
    expect(() => open(dir)).toThrow(SqsStateError);
    expect(() => open(dir)).toThrow(/unsupported log version 4 \(this runtime reads versions 1, 2, 3/);
  });

  it('names the byte of a record without its checksum in a version 3 log', () => {
    const dir = tempDir();
    open(dir).store.close();
    const file = join(dir, 'sqs', 'queues.log');
    const size = readFileSync(file).length;
    appendFileSync(file, `{"t":"s","q":"other","id":"x","ts":${NOW},"bl":2}\nab\n`);
    expect(() => open(dir)).toThrow(
      `queues.log is damaged at byte ${size}: no record checksum where a record starts`,
    );
  });
});
