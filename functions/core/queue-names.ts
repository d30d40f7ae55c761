/**
 * The naming rule of the per-tenant work queues and their DLQs. The CDK app names the queues with
 * it and the handlers derive every URL they send to from the record's `eventSourceARN` with it, so
 * the function's environment stays the same size however many tenants a stage has (Lambda caps
 * the whole environment at 4 KB).
 */

/** SQS queue names: 1-80 characters of letters, digits, `-` and `_`. */
export const MAX_QUEUE_NAME_CHARS = 80;
const DEAD_LETTER_SUFFIX = '-dlq';

/** The work queue of one tenant in one tier of one task, e.g. `inferbus-dev-spam-t1-acme`. */
export function workQueueName(stage: string, task: string, tier: number, tenant: string): string {
  const name = `inferbus-${stage}-${workQueueShortName(task, tier, tenant)}`;
  if (name.length + DEAD_LETTER_SUFFIX.length > MAX_QUEUE_NAME_CHARS) {
    throw new Error(
      `Queue name ${name}${DEAD_LETTER_SUFFIX} is over SQS's ${MAX_QUEUE_NAME_CHARS}-character limit; shorten the stage, task or tenant id.`,
    );
  }
  return name;
}

/** A work queue's name without `inferbus-<stage>-`: `<task>-t<tier>-<tenant>`. */
export const workQueueShortName = (task: string, tier: number, tenant: string): string =>
  `${task}-t${tier}-${tenant}`;

/** What a work queue's (or its DLQ's) name says: the task, the tier and the tenant it serves. */
export interface WorkQueueParts {
  readonly task: string;
  readonly tier: number;
  readonly tenant: string;
  readonly deadLetter: boolean;
}

// Task ids have no dashes (functions/core/manifest.ts TASK_ID_PATTERN), so the first `-t<N>-`
// after the stage prefix ends the task; tenant ids may hold dashes.
const SHORT_NAME = /^([a-z][a-z0-9]{0,11})-t([1-9])-([a-z][a-z0-9-]{0,31})$/;

/**
 * Parses `<task>-t<N>-<tenant>[-dlq]`, or a full name when `stageOrStack` (`dev` or `inferbus-dev`)
 * says what prefix to strip; undefined for a name that is not a work queue or work-queue DLQ.
 */
export function parseWorkQueueName(name: string, stageOrStack?: string): WorkQueueParts | undefined {
  let rest = name;
  if (stageOrStack !== undefined) {
    const prefix = `${stageOrStack.startsWith('inferbus-') ? stageOrStack : `inferbus-${stageOrStack}`}-`;
    if (!rest.startsWith(prefix)) return undefined;
    rest = rest.slice(prefix.length);
  }
  const deadLetter = rest.endsWith(DEAD_LETTER_SUFFIX);
  const match = SHORT_NAME.exec(deadLetter ? rest.slice(0, -DEAD_LETTER_SUFFIX.length) : rest);
  if (!match) return undefined;
  const [, task, tier, tenant] = match as unknown as [string, string, string, string];
  return { task, tier: Number(tier), tenant, deadLetter };
}

/** The DLQ of a work queue: its name with `-dlq` appended. */
export function deadLetterQueueName(workQueue: string): string {
  return `${workQueue}${DEAD_LETTER_SUFFIX}`;
}

export interface QueueArn {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly name: string;
}

export function parseQueueArn(arn: string): QueueArn | undefined {
  const match = /^arn:([a-z-]+):sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,80})$/.exec(arn);
  if (!match) return undefined;
  const [, partition, region, account, name] = match as unknown as [string, string, string, string, string];
  return { partition, region, account, name };
}

/** DNS suffix of SQS endpoints per partition, as AWS documents queue URLs. */
const PARTITION_SUFFIX: Record<string, string> = {
  aws: 'amazonaws.com',
  'aws-us-gov': 'amazonaws.com',
  'aws-cn': 'amazonaws.com.cn',
};

/**
 * The URL of the queue `name` owned by the account (and in the region) of `arn`:
 * `<endpoint>/<account>/<name>`, the endpoint being the SDK's `AWS_ENDPOINT_URL_SQS` /
 * `AWS_ENDPOINT_URL` when set (the local runtime), else `https://sqs.<region>.<suffix>`.
 * Throws for a partition whose endpoint is not known here rather than guess one.
 */
export function queueUrlBeside(arn: QueueArn, name: string, endpoint: string | undefined): string {
  if (endpoint) return `${endpoint.replace(/\/+$/, '')}/${arn.account}/${name}`;
  const suffix = PARTITION_SUFFIX[arn.partition];
  if (!suffix) {
    throw new Error(
      `No known SQS endpoint for partition ${arn.partition}; set AWS_ENDPOINT_URL_SQS to the SQS endpoint of ${arn.region}.`,
    );
  }
  return `https://sqs.${arn.region}.${suffix}/${arn.account}/${name}`;
}

/** Resolves a work queue's ARN (a record's `eventSourceARN`) to its own URL and to its DLQ's URL. */
export class QueueUrls {
  constructor(private readonly endpoint: string | undefined) {}

  /** The queue's own URL, or undefined for something that is not an SQS queue ARN. */
  workQueue(queueArn: string): string | undefined {
    const arn = parseQueueArn(queueArn);
    return arn && queueUrlBeside(arn, arn.name, this.endpoint);
  }

  /** The URL of the queue's DLQ (named by `deadLetterQueueName`), or undefined for a bad ARN. */
  deadLetterQueue(queueArn: string): string | undefined {
    const arn = parseQueueArn(queueArn);
    return arn && queueUrlBeside(arn, deadLetterQueueName(arn.name), this.endpoint);
  }
}
