import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A minimal AWS JSON endpoint on 127.0.0.1 for handler tests: it answers EventBridge PutEvents
 * and SQS SendMessageBatch as AWS does, records what it received, and can be told to fail, so
 * the real SDK clients in the handler are exercised end to end on the wire.
 */
export interface StubCall {
  readonly target: string;
  readonly body: any;
}

export class AwsStub {
  readonly calls: StubCall[] = [];
  /** Return an error code for an entry to fail it, or undefined to accept it. */
  failPutEventsEntry: (entry: any) => string | undefined = () => undefined;
  failSqs = false;
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  entries(detailType?: string): any[] {
    return this.calls
      .filter((c) => c.target === 'AWSEvents.PutEvents')
      .flatMap((c) => c.body.Entries)
      .filter((e: any) => !detailType || e.DetailType === detailType);
  }

  deadLetters(): any[] {
    return this.calls.filter((c) => c.target === 'AmazonSQS.SendMessageBatch').flatMap((c) => c.body.Entries);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    this.calls.push({ target, body });
    const reply = (status: number, payload: unknown, type = 'application/x-amz-json-1.1') => {
      res.writeHead(status, { 'content-type': type });
      res.end(JSON.stringify(payload));
    };
    if (target === 'AWSEvents.PutEvents') {
      const results = body.Entries.map((entry: any, i: number) => {
        const error = this.failPutEventsEntry(entry);
        return error
          ? { ErrorCode: error, ErrorMessage: `stub rejected ${error}` }
          : { EventId: `evt-${this.calls.length}-${i}` };
      });
      reply(200, { FailedEntryCount: results.filter((r: any) => r.ErrorCode).length, Entries: results });
      return;
    }
    if (target === 'AmazonSQS.SendMessageBatch') {
      if (this.failSqs) {
        reply(
          500,
          { __type: 'com.amazonaws.sqs#InternalError', message: 'stub failure' },
          'application/x-amz-json-1.0',
        );
        return;
      }
      reply(
        200,
        {
          Successful: body.Entries.map((e: any) => ({
            Id: e.Id,
            MessageId: `m-${e.Id}`,
            MD5OfMessageBody: md5(e.MessageBody),
          })),
          Failed: [],
        },
        'application/x-amz-json-1.0',
      );
      return;
    }
    reply(400, { __type: 'UnknownOperationException', message: `stub does not serve ${target}` });
  }
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}
