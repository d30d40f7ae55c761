import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The account-level answers `inferbus preflight` asks for, on 127.0.0.1, in each service's own
 * protocol: Lambda GetAccountSettings (REST JSON), CloudFormation DescribeStacks (query protocol,
 * XML answers) and Service Quotas (JSON 1.1). The real SDK clients talk to it through AWS_ENDPOINT_URL.
 */
export interface AccountState {
  unreservedConcurrency: number;
  /** Undefined: CDKToolkit does not exist. */
  bootstrap?: { status: string; version: number };
  /** Undefined: no applied quota (NoSuchResourceException), the default answers. */
  appliedRulesQuota?: number;
  defaultRulesQuota: number;
}

export class AccountStub {
  readonly requests: string[] = [];
  private server?: Server;

  constructor(public state: AccountState) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const target = String(req.headers['x-amz-target'] ?? '');
    const send = (status: number, type: string, payload: string) => {
      res.writeHead(status, { 'content-type': type, 'x-amzn-requestid': 'stub' });
      res.end(payload);
    };
    if (req.method === 'GET' && req.url?.includes('/account-settings')) {
      this.requests.push('lambda:GetAccountSettings');
      send(
        200,
        'application/json',
        JSON.stringify({
          AccountLimit: {
            ConcurrentExecutions: 1000,
            UnreservedConcurrentExecutions: this.state.unreservedConcurrency,
            CodeSizeUnzipped: 262144000,
            CodeSizeZipped: 52428800,
            TotalCodeSize: 80530636800,
          },
          AccountUsage: { FunctionCount: 2, TotalCodeSize: 1000 },
        }),
      );
      return;
    }
    if (target.startsWith('ServiceQuotasV20190624.')) {
      const operation = target.split('.')[1] as string;
      this.requests.push(`servicequotas:${operation}`);
      const input = JSON.parse(body || '{}');
      const json = (status: number, payload: unknown) =>
        send(status, 'application/x-amz-json-1.1', JSON.stringify(payload));
      const quota = (value: number) => ({
        Quota: {
          ServiceCode: input.ServiceCode,
          QuotaCode: input.QuotaCode,
          QuotaName: 'Number of rules',
          Value: value,
        },
      });
      if (operation === 'GetServiceQuota') {
        if (this.state.appliedRulesQuota === undefined)
          json(400, {
            __type: 'NoSuchResourceException',
            message: 'The request failed because the specified service quota does not exist.',
          });
        else json(200, quota(this.state.appliedRulesQuota));
        return;
      }
      if (operation === 'GetAWSDefaultServiceQuota') return json(200, quota(this.state.defaultRulesQuota));
    }
    const form = new URLSearchParams(body);
    if (form.get('Action') === 'DescribeStacks') {
      this.requests.push(`cloudformation:DescribeStacks ${form.get('StackName')}`);
      const bootstrap = this.state.bootstrap;
      if (!bootstrap) {
        send(
          400,
          'text/xml',
          `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${form.get('StackName')} does not exist</Message></Error><RequestId>stub</RequestId></ErrorResponse>`,
        );
        return;
      }
      send(
        200,
        'text/xml',
        `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>CDKToolkit</StackName><StackId>arn:aws:cloudformation:eu-west-1:123456789012:stack/CDKToolkit/1</StackId><StackStatus>${bootstrap.status}</StackStatus><CreationTime>2026-01-01T00:00:00Z</CreationTime><Outputs><member><OutputKey>BootstrapVersion</OutputKey><OutputValue>${bootstrap.version}</OutputValue></member></Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>stub</RequestId></ResponseMetadata></DescribeStacksResponse>`,
      );
      return;
    }
    this.requests.push(`unknown ${req.method} ${req.url} ${target}`);
    send(
      400,
      'application/json',
      JSON.stringify({
        __type: 'UnknownOperationException',
        message: `stub does not serve ${req.method} ${req.url} ${target}`,
      }),
    );
  }
}
