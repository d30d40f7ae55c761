import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { AthenaClient } from '@aws-sdk/client-athena';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Command } from 'commander';
import { type StageResourceNames, stageResourceNames } from '../functions/core/stage-names';
import { classifyError, describeError } from '../functions/producer/errors';
import { CliError, ExitCode } from './errors';

/** Flags every command that talks to AWS (or to `inferbus local`) accepts. */
export interface AwsFlags {
  readonly local?: boolean;
  readonly region?: string;
  readonly profile?: string;
  readonly stage: string;
}

export const DEFAULT_LOCAL_ENDPOINT = 'http://127.0.0.1:4566';
/** `inferbus local` accepts any key; these are the ones it prints. */
const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export function addAwsOptions(command: Command): Command {
  return command
    .option(
      '--local',
      `use the local runtime: $AWS_ENDPOINT_URL or ${DEFAULT_LOCAL_ENDPOINT} (inferbus local)`,
    )
    .option('--region <region>', 'AWS region (default: $AWS_REGION or the profile)')
    .option('--profile <name>', 'named profile from ~/.aws/config')
    .option(
      '--stage <name>',
      'stage: bus inferbus-<stage>, database inferbus_<stage>, workgroup inferbus-<stage>',
      'dev',
    );
}

/**
 * Where a command's AWS calls go and the names it addresses. With `--local` (or
 * AWS_ENDPOINT_URL set) every client talks to that endpoint; otherwise the SDK's default
 * credential chain and region apply, as for the AWS CLI.
 */
export class AwsContext {
  readonly names: StageResourceNames;
  readonly endpoint?: string;
  readonly local: boolean;
  private s3Endpoint?: string;
  private clients: { events?: EventBridgeClient; sqs?: SQSClient; s3?: S3Client; athena?: AthenaClient } = {};
  private checked = false;
  private regionValue?: string;

  constructor(
    readonly flags: AwsFlags,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(flags.stage)) {
      throw new CliError(
        `--stage ${JSON.stringify(flags.stage)}: lower-case letters, digits and "-"`,
        ExitCode.Usage,
      );
    }
    this.names = stageResourceNames(flags.stage);
    if (flags.profile) {
      // The SDK's default chains read the profile for credentials and region alike.
      env.AWS_PROFILE = flags.profile;
      delete env.AWS_ACCESS_KEY_ID;
      delete env.AWS_SECRET_ACCESS_KEY;
      delete env.AWS_SESSION_TOKEN;
    }
    this.endpoint = flags.local ? (env.AWS_ENDPOINT_URL ?? DEFAULT_LOCAL_ENDPOINT) : env.AWS_ENDPOINT_URL;
    this.local = Boolean(this.endpoint);
    this.s3Endpoint = env.AWS_ENDPOINT_URL_S3;
    this.regionValue =
      flags.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (this.local ? 'us-east-1' : undefined);
  }

  /** Fails early, with what to do, when the endpoint is down or no credentials are found. */
  async preflight(): Promise<void> {
    if (this.checked) return;
    this.checked = true;
    if (this.endpoint) {
      const health = await probe(`${this.endpoint.replace(/\/$/, '')}/health`);
      if (health === 'unreachable') {
        throw new CliError(
          `cannot reach ${this.endpoint}: nothing is listening there. Start the local runtime with \`inferbus local\` ` +
            `(port 4566) or point AWS_ENDPOINT_URL at it; to use AWS instead, drop --local/AWS_ENDPOINT_URL and pass --region/--profile`,
          ExitCode.Environment,
        );
      }
      if (typeof health === 'object' && typeof health.s3 === 'string') this.s3Endpoint ??= health.s3;
      return;
    }
    const client = this.events();
    try {
      await client.config.region();
    } catch {
      throw new CliError(
        'no AWS region: pass --region, set AWS_REGION, or use a --profile that has one (or --local for `inferbus local`)',
        ExitCode.Environment,
      );
    }
    try {
      await client.config.credentials();
    } catch (error) {
      throw new CliError(
        `no AWS credentials found (${(error as Error).message.split('\n')[0]}): run \`aws configure\` or \`aws sso login\`, ` +
          'pass --profile NAME, or start `inferbus local` and pass --local',
        ExitCode.Environment,
      );
    }
  }

  private base() {
    const config: {
      region?: string;
      endpoint?: string;
      credentials?: typeof LOCAL_CREDENTIALS;
      maxAttempts?: number;
    } = {};
    if (this.regionValue) config.region = this.regionValue;
    if (this.endpoint) {
      config.endpoint = this.endpoint;
      if (!this.env.AWS_ACCESS_KEY_ID && !this.env.AWS_PROFILE) config.credentials = LOCAL_CREDENTIALS;
    }
    return config;
  }

  events(): EventBridgeClient {
    this.clients.events ??= new EventBridgeClient({ ...this.base(), maxAttempts: 1 });
    return this.clients.events;
  }

  sqs(): SQSClient {
    this.clients.sqs ??= new SQSClient(this.base());
    return this.clients.sqs;
  }

  athena(): AthenaClient {
    this.clients.athena ??= new AthenaClient(this.base());
    return this.clients.athena;
  }

  s3(): S3Client {
    if (!this.clients.s3) {
      const base = this.base();
      const endpoint = this.s3Endpoint ?? (this.local ? undefined : base.endpoint);
      this.clients.s3 = new S3Client({
        ...base,
        endpoint,
        ...(this.s3Endpoint && {
          forcePathStyle: true,
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }),
      });
    }
    return this.clients.s3;
  }

  /** The stack's claims bucket: `<stack>-claims…`, found with ListBuckets. */
  async claimBucket(): Promise<string> {
    const { Buckets = [] } = await this.s3().send(new ListBucketsCommand({}));
    const match = Buckets.map((b) => b.Name ?? '').find((name) =>
      name.startsWith(this.names.claimBucketPrefix),
    );
    if (!match) {
      throw new CliError(
        `no claims bucket ${this.names.claimBucketPrefix}* found for stage ${this.flags.stage}; pass --claim-bucket NAME`,
        ExitCode.Environment,
      );
    }
    return match;
  }

  /** Turns an SDK error into one the person at the terminal can act on. */
  explain(error: unknown): CliError {
    if (error instanceof CliError) return error;
    const name = (error as Error)?.name ?? '';
    if (classifyError(error) === 'unreachable') {
      return new CliError(
        `cannot reach ${this.endpoint ?? 'AWS'} (${describeError(error)}): ${
          this.local ? 'is `inferbus local` running?' : 'check your network and --region'
        }`,
        ExitCode.Environment,
      );
    }
    if (
      /CredentialsProviderError|UnrecognizedClientException|InvalidSignatureException|ExpiredToken/.test(name)
    ) {
      return new CliError(
        `AWS rejected the credentials (${describeError(error)}): refresh them (aws sso login) or pass --profile`,
        ExitCode.Environment,
      );
    }
    if (/AccessDenied/.test(name)) {
      return new CliError(`access denied: ${describeError(error)}`, ExitCode.Environment);
    }
    if (/ResourceNotFound|NonExistentQueue|QueueDoesNotExist|NoSuchBucket/.test(name)) {
      return new CliError(
        `${describeError(error)} — is stage ${this.flags.stage} deployed in this account and region (pass --stage/--region)?`,
        ExitCode.Failed,
      );
    }
    return new CliError(describeError(error), ExitCode.Failed);
  }
}

/** GET /health of `inferbus local` (node:http: fetch refuses some ports). */
function probe(url: string): Promise<'unreachable' | 'other' | Record<string, unknown>> {
  return new Promise((resolve) => {
    const request = (url.startsWith('https:') ? httpsGet : httpGet)(url, { timeout: 3_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        if (response.statusCode !== 200) return resolve('other');
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
        } catch {
          resolve('other');
        }
      });
    });
    request.on('timeout', () =>
      request.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    );
    request.on('error', (error: Error & { code?: string }) => resolve(error.code ? 'unreachable' : 'other'));
  });
}
