import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalServer } from '../../local/server';

/** POSTs `chunks` one write at a time (so the server sees several `data` events). */
function post(endpoint: string, chunks: readonly Buffer[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      endpoint,
      {
        method: 'POST',
        headers: { 'x-amz-target': 'Echo.Body', 'content-type': 'application/x-amz-json-1.1' },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe('LocalServer request bodies', () => {
  let server: LocalServer;
  let endpoint: string;

  beforeAll(async () => {
    server = new LocalServer({
      port: 0,
      routes: [
        {
          targetPrefix: 'Echo.',
          contentType: 'application/x-amz-json-1.1',
          handle: (_target, body) => ({ status: 200, body }),
        },
      ],
      health: () => ({}),
      metrics: () => [],
      maxBodyBytes: 1_000,
    });
    endpoint = await server.start();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('joins a body sent in several chunks, a character split across two of them included', async () => {
    const text = '{"text":"é…€"}';
    const bytes = Buffer.from(text, 'utf8');
    const split = bytes.indexOf(Buffer.from('…')) + 1;
    const response = await post(endpoint, [bytes.subarray(0, split), bytes.subarray(split)]);
    expect(response).toEqual({ status: 200, body: text });
  });

  it('answers 413 to a body over the limit, and keeps serving', async () => {
    const response = await post(endpoint, [Buffer.alloc(600, 'a'), Buffer.alloc(600, 'b')]);
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body)).toMatchObject({ __type: 'RequestEntityTooLarge' });
    expect(await post(endpoint, [Buffer.from('{}')])).toEqual({ status: 200, body: '{}' });
  });
});
