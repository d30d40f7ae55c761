import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a service's protocol handler returns for one AWS JSON request. */
export interface ServiceResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body: unknown;
}

export interface ServiceRoute {
  /** X-Amz-Target prefix, e.g. `AWSEvents.` or `AmazonSQS.`. */
  readonly targetPrefix: string;
  /** `application/x-amz-json-1.0` (SQS) or `application/x-amz-json-1.1` (EventBridge, Athena). */
  readonly contentType: string;
  /**
   * Gets the raw request body: each protocol parses (and reports malformed JSON) its own way. The
   * headers tell who signed the request (the local IAM authorizes by the signing access key).
   */
  readonly handle: (
    target: string,
    body: string,
    headers: IncomingHttpHeaders,
  ) => Promise<ServiceResponse> | ServiceResponse;
}

/** A Prometheus sample: `name{labels} value`. */
export interface MetricSample {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly value: number;
  readonly labels?: Record<string, string>;
}

export interface LocalServerOptions {
  readonly port: number;
  readonly routes: readonly ServiceRoute[];
  /** Requests without X-Amz-Target but with a form-encoded `Action` (the SQS query protocol). */
  readonly queryProtocol?: (body: string, headers: IncomingHttpHeaders) => Promise<ServiceResponse>;
  readonly health: () => Record<string, unknown>;
  readonly metrics: () => readonly MetricSample[];
  /** Largest request body accepted (EventBridge's 1 MB entries, ten per request, plus JSON). */
  readonly maxBodyBytes?: number;
}

/** Loopback only: the local runtime is never reachable from another machine. */
export const LOCAL_HOST = '127.0.0.1';

/**
 * One HTTP endpoint on 127.0.0.1 that speaks the AWS JSON protocols the project uses, dispatching
 * on `X-Amz-Target`, plus `/health` and `/metrics` (Prometheus text).
 */
export class LocalServer {
  private server?: Server;

  constructor(private readonly options: LocalServerOptions) {}

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error) => reply(res, 500, 'application/json', internalError(error)));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, LOCAL_HOST, () => resolve());
    });
    return this.url;
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | null;
    if (!address) throw new Error('the local server is not listening');
    return `http://${LOCAL_HOST}:${address.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/health') {
      reply(res, 200, 'application/json', JSON.stringify({ status: 'ok', ...this.options.health() }));
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      reply(res, 200, 'text/plain; version=0.0.4', renderPrometheus(this.options.metrics()));
      return;
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    const contentType = String(req.headers['content-type'] ?? '');
    if (
      req.method === 'POST' &&
      !target &&
      contentType.startsWith('application/x-www-form-urlencoded') &&
      this.options.queryProtocol
    ) {
      const text = (await readBody(req, this.options.maxBodyBytes ?? 12 * 1024 * 1024)) ?? '';
      const response = await this.options.queryProtocol(text, req.headers);
      res.writeHead(response.status, { ...response.headers });
      res.end(String(response.body));
      return;
    }
    const route = this.options.routes.find((r) => target.startsWith(r.targetPrefix));
    if (req.method !== 'POST' || !route) {
      const known = this.options.routes.map((r) => `${r.targetPrefix}*`).join(', ');
      reply(
        res,
        400,
        'application/x-amz-json-1.1',
        JSON.stringify({
          __type: 'UnknownOperationException',
          message: `inferbus local serves POST with X-Amz-Target ${known}, GET /health and GET /metrics; got ${req.method} ${path} ${target || '(no X-Amz-Target)'}`,
        }),
      );
      return;
    }
    const text = await readBody(req, this.options.maxBodyBytes ?? 12 * 1024 * 1024);
    if (text === undefined) {
      reply(
        res,
        413,
        route.contentType,
        JSON.stringify({ __type: 'RequestEntityTooLarge', message: 'request body too large' }),
      );
      return;
    }
    const response = await route.handle(target, text, req.headers);
    res.writeHead(response.status, { 'content-type': route.contentType, ...response.headers });
    res.end(typeof response.body === 'string' ? response.body : JSON.stringify(response.body ?? {}));
  }
}

/**
 * The request body as text, or undefined once it passes `limit` bytes (the rest is read and
 * dropped, so the caller can still answer 413). Listens to `data`/`end` rather than iterating the stream: the async iterator costs a
 * promise per chunk, and every PutEvents and SQS call comes through here.
 */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () =>
      resolve(
        chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8'),
      ),
    );
    req.once('error', reject);
  });
}

function reply(res: ServerResponse, status: number, contentType: string, body: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': contentType });
  res.end(body);
}

function internalError(error: unknown): string {
  return JSON.stringify({ __type: 'InternalFailure', message: (error as Error).message ?? String(error) });
}

export function renderPrometheus(samples: readonly MetricSample[]): string {
  const lines: string[] = [];
  const described = new Set<string>();
  for (const sample of samples) {
    if (!described.has(sample.name)) {
      lines.push(`# HELP ${sample.name} ${sample.help}`, `# TYPE ${sample.name} ${sample.type}`);
      described.add(sample.name);
    }
    const labels = Object.entries(sample.labels ?? {})
      .map(([key, value]) => `${key}="${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`)
      .join(',');
    lines.push(
      `${sample.name}${labels ? `{${labels}}` : ''} ${Number.isFinite(sample.value) ? sample.value : 0}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
