import { type Agent, request as httpRequest } from 'node:http';

/**
 * One AWS JSON-protocol request as raw HTTP (unsigned: the local endpoints do not check
 * signatures): what the benchmarks send when the SDK client's own CPU must not be counted.
 * Resolves with the status and the body text; rejects only on a transport error.
 */
export function postAwsJson(
  endpoint: URL,
  agent: Agent,
  target: string,
  contentType: string,
  body: Buffer,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: endpoint.hostname,
        port: endpoint.port,
        method: 'POST',
        path: '/',
        agent,
        headers: { 'content-type': contentType, 'x-amz-target': target, 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
