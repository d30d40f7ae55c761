import type {
  FirehoseSink,
  QueueService,
  RuleModel,
  SqsMessageAttribute,
  TemplateModel,
} from '../../local/model';

export interface Sent {
  readonly queue: string;
  readonly body: string;
  readonly attributes?: Record<string, SqsMessageAttribute>;
}

/** An in-memory QueueService whose sends can be made to fail. */
export class FakeQueues implements QueueService {
  readonly sent: Sent[] = [];
  /** Queue ARN → errors to throw on the next sends, one per send. */
  readonly failures = new Map<string, Error[]>();
  /** Fails every send it returns an error for. */
  failWhen?: (queue: string, body: string) => Error | undefined;
  /** Queue ARN → a gate the next send waits on. */
  readonly gates = new Map<string, Promise<void>>();

  failNext(queue: string, count: number, make: () => Error = () => new Error('queue unavailable')): void {
    this.failures.set(queue, Array.from({ length: count }, make));
  }

  async send(queue: string, body: string, attributes?: Record<string, SqsMessageAttribute>) {
    const gate = this.gates.get(queue);
    if (gate) await gate;
    const error = this.failures.get(queue)?.shift() ?? this.failWhen?.(queue, body);
    if (error) throw error;
    this.sent.push({ queue, body, ...(attributes && { attributes }) });
    return { messageId: String(this.sent.length) };
  }

  to(queue: string): Sent[] {
    return this.sent.filter((s) => s.queue === queue);
  }

  async receive() {
    return [];
  }
  async delete() {}
  async changeVisibility() {}
  counts() {
    return { visible: 0, inFlight: 0, delayed: 0 };
  }
}

export class FakeFirehose implements FirehoseSink {
  readonly records: { stream: string; data: string }[] = [];
  async putRecord(stream: string, data: string) {
    this.records.push({ stream, data });
  }
}

export const REGION = 'eu-west-1';
export const ACCOUNT = '000000000000';
export const BUS = 'inferbus-test';
export const arn = {
  work: `arn:aws:sqs:${REGION}:${ACCOUNT}:work`,
  raw: `arn:aws:sqs:${REGION}:${ACCOUNT}:raw`,
  ruleDlq: `arn:aws:sqs:${REGION}:${ACCOUNT}:rule-dlq`,
  stream: `arn:aws:firehose:${REGION}:${ACCOUNT}:deliverystream/archive`,
};

function rule(name: string, pattern: unknown, targets: RuleModel['targets'], enabled = true): RuleModel {
  return {
    logicalId: name,
    name,
    arn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/${BUS}/${name}`,
    eventBusName: BUS,
    eventPattern: pattern,
    enabled,
    targets,
  };
}

/** A small model: a transformed work-queue rule, a raw rule without DLQ, a Firehose archive, a disabled rule. */
export function testModel(): Pick<TemplateModel, 'buses' | 'rules' | 'account' | 'region'> {
  return {
    account: ACCOUNT,
    region: REGION,
    buses: [{ logicalId: 'Bus', name: BUS, arn: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${BUS}` }],
    rules: [
      rule(
        'tier1-acme',
        { source: ['inferbus.acme'], 'detail-type': ['InferenceRequested'], detail: { tenant: ['acme'] } },
        [
          {
            id: 'Work',
            arn: arn.work,
            inputTransformer: {
              inputPathsMap: { id: '$.detail.id', tenant: '$.detail.tenant' },
              inputTemplate:
                '{"id":<id>,"tenant":<tenant>,"rule":"<aws.events.rule-name>","ruleArn":<aws.events.rule-arn>,"at":"<aws.events.event.ingestion-time>"}',
            },
            deadLetterArn: arn.ruleDlq,
            retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
          },
        ],
      ),
      rule('raw', { source: ['raw'] }, [
        { id: 'Whole', arn: arn.raw, retryPolicy: { maximumRetryAttempts: 1 } },
        { id: 'Detail', arn: arn.raw, inputPath: '$.detail.payload' },
        { id: 'Constant', arn: arn.raw, input: '{"fixed":true}' },
      ]),
      rule('archive', { source: [{ prefix: '' }] }, [
        {
          id: 'Firehose',
          arn: arn.stream,
          inputTransformer: { inputPathsMap: { s: '$.source' }, inputTemplate: '{"source":<s>}' },
        },
      ]),
      rule('disabled', { source: ['raw'] }, [{ id: 'Never', arn: arn.work }], false),
    ],
  };
}
