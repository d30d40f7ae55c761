import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the guard answers for one DynamoDB call: undefined to forward it, or the response to send. */
export type DynamoDbGuard = (
  target: string,
  body: () => unknown,
  headers: IncomingHttpHeaders,
) => { status: number; headers: Record<string, string>; body: string } | undefined;

/** Told about every call answered by dynalite: the operation, both bodies and the status (metering). */
export type DynamoDbObserver = (
  operation: string,
  request: unknown,
  status: number,
  response: unknown,
) => void;

/**
 * The public DynamoDB endpoint when calls are authorized: reads each request, lets the guard decide
 * on it (`X-Amz-Target: DynamoDB_20120810.<Operation>` and the JSON body), and forwards what it
 * allows, byte for byte, to dynalite on its own loopback port.
 */
export async function startAuthorizingProxy(options: {
  readonly port: number;
  readonly upstreamPort: number;
  readonly guard: DynamoDbGuard;
  readonly observe?: DynamoDbObserver;
}): Promise<{ port: number; stop: () => Promise<void> }> {
  const agent = new Agent({ keepAlive: true });
  const server: Server = createServer((req, res) => {
    void handle(req, res, options, agent).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify({ __type: 'InternalFailure', message: (error as Error).message }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: { upstreamPort: number; guard: DynamoDbGuard; observe?: DynamoDbObserver },
  agent: Agent,
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  const target = String(req.headers['x-amz-target'] ?? '');
  const denied = options.guard(target, () => parseOrEmpty(raw), req.headers);
  if (denied) {
    res.writeHead(denied.status, denied.headers);
    res.end(denied.body);
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const upstream = request(
      {
        host: '127.0.0.1',
        port: options.upstreamPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 500, answer.headers);
        answer.pipe(res);
        const observe = options.observe;
        const chunks: Buffer[] = [];
        if (observe) answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.once('end', () => {
          if (observe) {
            const operation = target.slice(target.indexOf('.') + 1);
            observe(
              operation,
              parseOrEmpty(raw),
              answer.statusCode ?? 500,
              parseOrEmpty(Buffer.concat(chunks)),
            );
          }
          resolve();
        });
        answer.once('error', reject);
      },
    );
    upstream.once('error', reject);
    upstream.end(raw);
  });
}

function parseOrEmpty(raw: Buffer): Record<string, unknown> {
  try {
    const parsed = JSON.parse(raw.toString('utf8'));
    return parsed !== null && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}
