import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A minimal AWS JSON endpoint on 127.0.0.1 for handler tests: it answers EventBridge PutEvents,
 * SQS SendMessageBatch and Firehose PutRecordBatch as AWS does, records what it received, and can be told to fail, so
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
  /** Firehose: an error code for a record (its data as text) to refuse it, or undefined to accept it. */
  failFirehoseRecord: (data: string) => string | undefined = () => undefined;
  /** Firehose: the HTTP status and error type of a PutRecordBatch call that fails as a whole. */
  failFirehoseCall?: { status: number; type: string };
  /** Firehose: answer this many record responses instead of one per record (undocumented AWS behaviour). */
  firehoseResponses?: number;
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

  /** The Firehose records PutRecordBatch received, decoded to text. */
  firehoseRecords(): string[] {
    return this.calls
      .filter((c) => c.target === 'Firehose_20150804.PutRecordBatch')
      .flatMap((c) => c.body.Records.map((r: any) => Buffer.from(r.Data, 'base64').toString('utf8')));
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
    if (target === 'Firehose_20150804.PutRecordBatch') {
      if (this.failFirehoseCall) {
        const { status, type } = this.failFirehoseCall;
        reply(status, { __type: type, message: 'stub failure' });
        return;
      }
      const responses = body.Records.map((r: any, i: number) => {
        const error = this.failFirehoseRecord(Buffer.from(r.Data, 'base64').toString('utf8'));
        return error ? { ErrorCode: error, ErrorMessage: `stub refused ${error}` } : { RecordId: `rec-${i}` };
      });
      reply(200, {
        FailedPutCount: responses.filter((r: any) => r.ErrorCode).length,
        Encrypted: false,
        RequestResponses: responses.slice(0, this.firehoseResponses ?? responses.length),
      });
      return;
    }
    reply(400, { __type: 'UnknownOperationException', message: `stub does not serve ${target}` });
  }
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}
