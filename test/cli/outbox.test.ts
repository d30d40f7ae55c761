import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPackCodec } from '../../functions/core/packing/codec';
import { expandPack, isPackedDetail } from '../../functions/core/packing/pack';
import { sequenceGaps } from '../../functions/core/sequence';

/**
 * The durable outbox across a SIGKILL: a child producer emits while the bus is down (events pile
 * up on disk), is killed mid-stream, restarted against a bus that is up but answers slowly, killed
 * again mid-send, restarted once more; every event must arrive, first arrivals in emit order.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'test/cli/fixtures/outbox-producer.ts');
const TOTAL = 300;

interface Received {
  id: string;
  seq: number;
  hlc: string;
}
const received: Received[] = [];
const codec = await createPackCodec();
/** The request ids each PutEvents call carried, in arrival order. */
const calls: string[][] = [];
let server: Server | undefined;

function startBus(delayMs: number): Promise<string> {
  const bus = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Entries: { Detail: string }[] };
      setTimeout(() => {
        calls.push([]);
        for (const entry of body.Entries) {
          const detail = JSON.parse(entry.Detail);
          // The producer packs what piles up: every request of a pack counts, in pack order.
          const requests = isPackedDetail(detail)
            ? expandPack(detail, codec).envelopes.map((e) => e.envelope)
            : [detail];
          for (const r of requests) received.push({ id: r.id, seq: r.seq, hlc: r.hlc });
          calls.at(-1)?.push(...requests.map((r) => r.id as string));
        }
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(
          JSON.stringify({
            FailedEntryCount: 0,
            Entries: body.Entries.map((_, i) => ({ EventId: `e${i}` })),
          }),
        );
      }, delayMs);
    });
  });
  server = bus;
  return new Promise((done) =>
    bus.listen(0, '127.0.0.1', () => done(`http://127.0.0.1:${(bus.address() as AddressInfo).port}`)),
  );
}

function run(
  endpoint: string,
  dir: string,
  killWhen?: (line: string) => boolean,
): Promise<{ lines: string[]; killed: boolean }> {
  return new Promise((done, fail) => {
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', SCRIPT, endpoint, dir, String(TOTAL)],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const lines: string[] = [];
    let killed = false;
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (!killed && killWhen?.(line)) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      if (!killed && code !== 0) fail(new Error(`producer exited ${code ?? signal}: ${stderr.slice(-2000)}`));
      else done({ lines, killed });
    });
  });
}

afterAll(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

describe('producer outbox', () => {
  it('keeps events on disk while the bus is down and across kills, then sends them all in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferbus-outbox-'));
    // 1. Bus down (nothing listens on this port): events pile up in the outbox; killed mid-stream.
    const down = await run('http://127.0.0.1:9', dir, (line) => line === 'emitted 120');
    expect(down.killed).toBe(true);
    expect(received).toHaveLength(0);

    // 2. Bus up but slow: the restart resends the backlog first; killed again while sending.
    const endpoint = await startBus(15);
    const second = await run(endpoint, dir, (line) => line.startsWith('emitted 200'));
    expect(second.lines[0]).toMatch(/^resume 12[01] pending 12[01]$/);
    expect(second.killed).toBe(true);

    // 3. Restart again: finishes the stream and exits cleanly.
    const third = await run(endpoint, dir);
    expect(third.lines.at(-1)).toBe('done');

    // Every event arrived; duplicates (at-least-once) only re-send a request that was in flight.
    const firstArrival: Received[] = [];
    const seen = new Set<string>();
    for (const r of received) {
      if (!seen.has(r.id)) firstArrival.push(r);
      seen.add(r.id);
    }
    expect(firstArrival.map((r) => r.id)).toEqual(Array.from({ length: TOTAL }, (_, i) => `ev-${i + 1}`));
    expect(sequenceGaps(firstArrival.map((r) => r.seq)).missing).toEqual([]);
    expect(firstArrival.map((r) => r.seq)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
    // HLC stamps of the node increase with the sequence, across restarts too.
    const stamps = firstArrival.map((r) => r.hlc.split('-').slice(0, 2).map(Number) as [number, number]);
    for (let i = 1; i < stamps.length; i++) {
      const [w0, c0] = stamps[i - 1] as [number, number];
      const [w1, c1] = stamps[i] as [number, number];
      expect(w1 > w0 || (w1 === w0 && c1 > c0)).toBe(true);
    }
    // Duplicates are the requests of the one PutEvents call in flight at the second kill, resent
    // after the restart (packed, one call may carry the whole backlog).
    const duplicates = new Set(received.map((r) => r.id).filter((id, i, ids) => ids.indexOf(id) !== i));
    const inFlight = calls.find((ids) => ids.some((id) => duplicates.has(id))) ?? [];
    expect([...duplicates].every((id) => inFlight.includes(id))).toBe(true);
    expect(received.length - TOTAL).toBe(duplicates.size);
  }, 60_000);
});
