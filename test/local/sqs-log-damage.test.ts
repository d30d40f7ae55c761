import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { QueueModel } from '../../local/model.js';
import { SqsLogMissingError, SqsStateError, SqsStorageError } from '../../local/sqs/errors.js';
import { QueueStore, type QueueStoreOptions } from '../../local/sqs/store.js';

const ARN = 'arn:aws:sqs:us-east-1:000000000000:';

function queue(name: string, extra: Partial<QueueModel> = {}): QueueModel {
  return {
    logicalId: name,
    name,
    arn: ARN + name,
    url: `http://127.0.0.1:4566/000000000000/${name}`,
    visibilityTimeoutSeconds: 30,
    messageRetentionSeconds: 345_600,
    ...extra,
  };
}

const QUEUES = [
  queue('work', { redrive: { deadLetterTargetArn: `${ARN}work-dlq`, maxReceiveCount: 1 } }),
  queue('work-dlq'),
];
const NOW = 1_700_000_000_000;

const dirs: string[] = [];
const stores: QueueStore[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-sqs-damage-'));
  dirs.push(dir);
  return dir;
}

function open(dir: string, options: Partial<QueueStoreOptions> = {}) {
  const warnings: string[] = [];
  const store = new QueueStore(QUEUES, {
    stateDir: dir,
    now: () => NOW,
    warn: (m) => warnings.push(m),
    ...options,
  });
  stores.push(store);
  return { store, warnings };
}

afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A real log: 10 messages dead-lettered (received once, expired visibility, moved on the next
 * receive), then `pending` messages still waiting, each body `body-<i>-` and `pad` bytes.
 */
async function writeState(dir: string, pending: number, pad = 200): Promise<string> {
  const clock = { t: NOW };
  const store = new QueueStore(QUEUES, { stateDir: dir, now: () => clock.t, warn: () => {} });
  for (let i = 0; i < 10; i++) await store.send('work', `dlq-${i}-${'d'.repeat(pad)}`);
  await store.receive('work', { maxMessages: 10, visibilityTimeoutSeconds: 1 });
  clock.t += 2_000;
  await store.receive('work', { maxMessages: 10 });
  for (let i = 0; i < pending; i++) await store.send('work', `body-${i}-${'x'.repeat(pad)}`);
  store.close();
  return join(dir, 'sqs', 'queues.log');
}

function counts(store: QueueStore) {
  return { work: store.counts('work').visible, dlq: store.counts('work-dlq').visible };
}

describe('a damaged SQS state log', () => {
  it('trims a log cut in the middle of a record (a torn tail), reports file, offset and what was lost, keeps the rest', async () => {
    const dir = tempDir();
    const file = await writeState(dir, 20);
    const whole = readFileSync(file);
    // Half-way through the body of message 15: messages 0 to 14 lie wholly before the cut.
    const body = whole.indexOf('body-15-');
    const cut = body + 50;
    const recordStart = whole.lastIndexOf('\n', body - 2) + 1;
    truncateSync(file, cut);
    const { store, warnings } = open(dir);
    expect(counts(store)).toEqual({ work: 15, dlq: 10 });
    const warning = warnings.join('\n');
    expect(warning).toContain(`${file} ended in an incomplete record at byte ${recordStart}`);
    expect(warning).toContain(`${cut - recordStart} of the`);
    expect(readFileSync(`${file}.torn-at-${recordStart}`).equals(whole.subarray(recordStart, cut))).toBe(
      true,
    );
    expect(readFileSync(file).equals(whole.subarray(0, recordStart))).toBe(true);
  });

  it('refuses to start on one changed byte in a message body, and leaves the file as it is', async () => {
    const dir = tempDir();
    const file = await writeState(dir, 20);
    const damaged = readFileSync(file);
    const at = damaged.indexOf('dlq-3-');
    const recordStart = damaged.lastIndexOf('\n', damaged.lastIndexOf('\n', at) - 1) + 1;
    damaged[at + 4] = '4'.charCodeAt(0); // dlq-3- becomes dlq-4-: a copy of another message
    writeFileSync(file, damaged);
    expect(() => open(dir)).toThrow(SqsStateError);
    expect(() => open(dir)).toThrow(
      `Local SQS state file ${file} is damaged at byte ${recordStart}: checksum mismatch`,
    );
    expect(() => open(dir)).toThrow(`inferbus local salvage --state-dir ${dir}`);
    expect(readFileSync(file).equals(damaged)).toBe(true);
    expect(existsSync(`${file}.torn-at-${recordStart}`)).toBe(false);
  });

  it('refuses a changed byte in the last record: a torn write never leaves a whole record with a wrong checksum', async () => {
    const dir = tempDir();
    const file = await writeState(dir, 3);
    const damaged = readFileSync(file);
    const at = damaged.indexOf('body-2-') + 3;
    damaged[at] = (damaged[at] as number) ^ 1;
    writeFileSync(file, damaged);
    expect(() => open(dir)).toThrow(/damaged at byte \d+: checksum mismatch/);
    expect(readFileSync(file).equals(damaged)).toBe(true);
  });

  it('refuses a length digit changed in the middle, whether the body then ends inside the file or past its end', async () => {
    const dir = tempDir();
    // 100,000-byte bodies ("bl":1000NN): the log is about 1.6 MB.
    const file = await writeState(dir, 6, 100_000);
    const whole = readFileSync(file);
    const field = whole.indexOf('"bl":100', whole.length - 500_000); // a body 900,000 bytes long ends past the end
    const recordStart = whole.lastIndexOf('\n', field) + 1;

    const inside = Buffer.from(whole);
    inside[field + 6] = '1'.charCodeAt(0); // 100... becomes 110...: ends inside a later body
    writeFileSync(file, inside);
    expect(() => open(dir)).toThrow(new RegExp(`damaged at byte ${recordStart}: `));
    expect(readFileSync(file).equals(inside)).toBe(true);

    const past = Buffer.from(whole);
    past[field + 5] = '9'.charCodeAt(0); // 100... becomes 900...: runs past the end, looks torn
    writeFileSync(file, past);
    expect(() => open(dir)).toThrow(
      new RegExp(
        `damaged at byte ${recordStart}: the record here runs past the end of the file, yet a whole record starts after it at byte \\d+`,
      ),
    );
    expect(readFileSync(file).equals(past)).toBe(true);
  });

  it('refuses to start when the log was deleted but its folder, or later state, is still there', async () => {
    const dir = tempDir();
    const file = await writeState(dir, 2);
    rmSync(file);
    expect(() => open(dir)).toThrow(SqsLogMissingError);
    expect(() => open(dir)).toThrow(`Local SQS state file ${file} is missing, yet its folder`);

    rmSync(join(dir, 'sqs'), { recursive: true });
    mkdirSync(join(dir, 'firehose'));
    expect(() => open(dir)).toThrow(/is missing, yet the state folder holds Firehose state/);
    expect(existsSync(join(dir, 'sqs'))).toBe(false);

    rmSync(join(dir, 'firehose'), { recursive: true });
    expect(counts(open(dir).store)).toEqual({ work: 0, dlq: 0 }); // a new state folder starts empty
  });

  it('refuses an empty log or a torn header, which the runtime never leaves (it creates a log with its header)', async () => {
    const dir = tempDir();
    const file = await writeState(dir, 1);
    writeFileSync(file, '');
    expect(() => open(dir)).toThrow(`${file} is damaged at byte 0: the file is empty`);
    writeFileSync(file, '0123abcd {"t":"h",');
    expect(() => open(dir)).toThrow(`${file} is damaged at byte 0: the header record is unfinished`);
    expect(readFileSync(file, 'utf8')).toBe('0123abcd {"t":"h",');
  });

  it('refuses to hand out a body whose record was changed while the runtime ran', async () => {
    const dir = tempDir();
    const { store } = open(dir, { memoryBodyBytes: 0 });
    await store.send('work', 'original body');
    await store.flush();
    const file = join(dir, 'sqs', 'queues.log');
    const bytes = readFileSync(file);
    bytes[bytes.indexOf('original')] = 'O'.charCodeAt(0);
    writeFileSync(file, bytes);
    const received = store.receive('work', { maxMessages: 1 });
    await expect(received).rejects.toThrow(SqsStorageError);
    await expect(received).rejects.toThrow(/checksum does not match/);
  });
});
