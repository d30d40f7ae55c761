import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type PutEventsOptions, putEventsCommand } from '../../cli/commands/put-events';
import { AwsContext } from '../../cli/context';
import { ExitCode } from '../../cli/errors';
import type { CliIO } from '../../cli/io';
import { createPackCodec } from '../../functions/core/packing/codec';
import { expandPack, isPackedDetail } from '../../functions/core/packing/pack';

/**
 * `inferbus put-events` packing, through the real SDK against a bus on loopback that answers
 * PutEvents as EventBridge does (entries accepted, or refused with an entry error code).
 */
interface Entry {
  Source: string;
  DetailType: string;
  Detail: string;
}
const calls: Entry[][] = [];
/** Tenants whose entries the bus refuses for good (a permanent entry error). */
const refusing = new Set<string>();
/** Called as each PutEvents request arrives (before it is answered). */
let onRequest: (() => void) | undefined;
let server: Server;
let endpoint: string;
const codec = await createPackCodec();

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{}');
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Entries: Entry[] };
      calls.push(body.Entries);
      onRequest?.();
      const answers = body.Entries.map((e) =>
        refusing.has(JSON.parse(e.Detail).tenant)
          ? { ErrorCode: 'MalformedDetail', ErrorMessage: 'refused by the test bus' }
          : { EventId: 'id' },
      );
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({ FailedEntryCount: answers.filter((a) => a.ErrorCode).length, Entries: answers }),
      );
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((done) => server.close(() => done())));
beforeEach(() => {
  calls.length = 0;
  refusing.clear();
  onRequest = undefined;
});

const dir = mkdtempSync(join(tmpdir(), 'inferbus-put-pack-'));
function file(lines: object[]): string {
  const path = join(dir, `in-${Math.random().toString(36).slice(2)}.ndjson`);
  writeFileSync(path, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  return path;
}
const envelope = (tenant: string, seq: number, task = 'spam') => ({
  id: `${tenant}-${seq}`,
  tenant,
  stream: 's1',
  seq,
  hlc: `1765094400000-${seq}-n1`,
  type: 'message.received',
  task,
  payload: { text: `message ${seq} about an invoice `.repeat(30) },
  metadata: {},
  time: '2026-12-07T08:00:00.000Z',
});

async function put(path: string, extra: Partial<PutEventsOptions> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { out: (l) => out.push(l), err: (l) => err.push(l), interactive: false };
  const ctx = new AwsContext({ stage: 'dev', local: true } as never, { AWS_ENDPOINT_URL: endpoint });
  const options: PutEventsOptions = {
    concurrency: 2,
    maxAttempts: 2,
    detailType: 'InferenceRequested',
    allowUnknownTenants: true,
    json: true,
    failedFile: join(dir, `failed-${Math.random().toString(36).slice(2)}.ndjson`),
    ...extra,
  };
  const code = await putEventsCommand(path, options, ctx, io);
  return { code, summary: JSON.parse(out.at(-1) ?? '{}'), err, failedFile: options.failedFile as string };
}

/** Every request the bus received, expanded from packs, in order. */
const received = () =>
  calls.flat().flatMap((entry) => {
    const detail = JSON.parse(entry.Detail);
    return isPackedDetail(detail) ? expandPack(detail, codec).envelopes.map((e) => e.envelope) : [detail];
  });

describe('inferbus put-events packs by default', () => {
  it('sends a file as zstd packs, per tenant and task, and counts requests in the summary', async () => {
    const lines = [
      ...Array.from({ length: 40 }, (_, i) => envelope('acme', i + 1)),
      ...Array.from({ length: 30 }, (_, i) => envelope('globex', i + 1, 'sensor')),
      envelope('initech', 1),
    ];
    const { code, summary } = await put(file(lines));
    expect(code).toBe(0);
    expect(summary).toMatchObject({
      entries: 71,
      sent: 71,
      accepted: 71,
      failed: 0,
      packing: { codec: 'zstd', maxRequests: 500, maxEntryBytes: 64_512 },
      packs: 2,
      packedRequests: 70,
      busEntries: 3,
      billedUnits: 3,
    });
    const details = calls.flat().map((e) => JSON.parse(e.Detail));
    expect(details.map((d) => [d.tenant, d.task, d.count])).toEqual([
      ['acme', 'spam', 40],
      ['globex', 'sensor', 30],
      ['initech', 'spam', undefined],
    ]);
    expect(details[0].data).toMatch(/^zstd-json-1:/);
    expect(received()).toEqual(lines);
  });

  it('sends every request alone with --no-pack, and plain JSON packs with --codec json', async () => {
    const lines = Array.from({ length: 12 }, (_, i) => envelope('acme', i + 1));
    const plain = await put(file(lines), { pack: false });
    expect(plain.summary).toMatchObject({ accepted: 12, busEntries: 12, packs: 0, packing: null });
    expect(calls.flat().every((e) => !isPackedDetail(JSON.parse(e.Detail)))).toBe(true);
    calls.length = 0;
    const json = await put(file(lines), { codec: 'json', packMax: 5 });
    expect(json.summary).toMatchObject({ accepted: 12, busEntries: 3, packs: 3 });
    const counts = calls.flat().map((e) => JSON.parse(e.Detail).items.length);
    expect(counts).toEqual([5, 5, 2]);
    expect(received()).toEqual(lines);
  });

  it('saves the requests of a refused pack, one per line with its input line, ready to resend', async () => {
    refusing.add('globex');
    const lines = [
      ...Array.from({ length: 4 }, (_, i) => envelope('acme', i + 1)),
      ...Array.from({ length: 3 }, (_, i) => envelope('globex', i + 1)),
    ];
    const { code, summary, failedFile } = await put(file(lines));
    expect(code).toBe(1);
    expect(summary).toMatchObject({ entries: 7, accepted: 4, failed: 3, busEntries: 1 });
    const saved = readFileSync(failedFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(saved.map((s) => [s._line, JSON.parse(s.Detail).id])).toEqual([
      [5, 'globex-1'],
      [6, 'globex-2'],
      [7, 'globex-3'],
    ]);
    expect(saved[0]._error).toContain('MalformedDetail');
    refusing.clear();
    calls.length = 0;
    const resent = await put(failedFile);
    expect(resent.summary).toMatchObject({ accepted: 3, packs: 1 });
    expect(received().map((r) => r.id)).toEqual(['globex-1', 'globex-2', 'globex-3']);
  });

  it('Ctrl-C: the summary and the resume file count requests, the unsent packs saved request by request', async () => {
    // 40 packs of 5 (--codec json --pack-max 5), one request of 10 entries at a time: Ctrl-C as the first arrives.
    const lines = Array.from({ length: 200 }, (_, i) => envelope('acme', i + 1));
    onRequest = () => {
      onRequest = undefined;
      process.emit('SIGINT');
    };
    const { code, summary, failedFile } = await put(file(lines), {
      codec: 'json',
      packMax: 5,
      concurrency: 1,
    });
    expect(code).toBe(130);
    expect(summary).toMatchObject({ entries: 200, sent: 50, accepted: 50, unsent: 150, interrupted: true });
    const saved = readFileSync(failedFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(saved.map((s) => s._line)).toEqual(Array.from({ length: 150 }, (_, i) => i + 51));
    calls.length = 0;
    const resumed = await put(failedFile);
    expect(resumed.summary).toMatchObject({ accepted: 150, unsent: 0 });
    expect(received().map((r) => r.seq)).toEqual(Array.from({ length: 150 }, (_, i) => i + 51));
  });

  it('refuses a packing flag out of range before reading the input, naming the flag', async () => {
    const refusal = put('/nonexistent.ndjson', { packBytes: 100 });
    await expect(refusal).rejects.toThrow(
      '--pack-bytes must be a whole number from 1024 to 1048576 (bytes per entry; 65536 is one billing unit), got 100',
    );
    await expect(refusal).rejects.toMatchObject({ exitCode: ExitCode.Usage });
    await expect(put('/nonexistent.ndjson', { packMax: 200_000 })).rejects.toThrow(
      /--pack-max must be a whole number from 1 to 100000/,
    );
    expect(calls).toEqual([]);
  });
});
