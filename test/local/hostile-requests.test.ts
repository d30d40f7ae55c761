import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AthenaClient, StartQueryExecutionCommand } from '@aws-sdk/client-athena';
import { EventBridgeClient, PutEventsCommand, TestEventPatternCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../functions/core/prng';
import { PROJECT_ROOT } from '../../lib/app';
import { LocalRuntime } from '../../local/runtime';

/**
 * Hostile requests against every endpoint `inferbus local` serves, through raw HTTP and the real
 * SDK: each must be refused with a 4xx and the error type AWS uses, never a 500 or a 200, and the
 * runtime must keep serving. Then a bounded, seeded fuzz over mutated valid requests.
 */

const JSON10 = 'application/x-amz-json-1.0';
const JSON11 = 'application/x-amz-json-1.1';
const FORM = 'application/x-www-form-urlencoded';

let runtime: LocalRuntime;
let stateDir: string;
let queueUrl: string;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'inferbus-hostile-'));
  runtime = await LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    port: 0,
    stateDir,
    log: () => {},
  });
  queueUrl = runtime.model.queues[0]?.url as string;
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

async function post(target: string | null, body: string, contentType = JSON11) {
  const headers: Record<string, string> = { 'content-type': contentType };
  if (target !== null) headers['x-amz-target'] = target;
  const response = await fetch(runtime.endpoint, { method: 'POST', headers, body });
  const text = await response.text();
  // The JSON protocols' error type, or the query protocol's <Code>.
  const type = contentType === FORM ? /<Code>([^<]*)<\/Code>/.exec(text)?.[1] : safeJson(text)?.__type;
  return { status: response.status, text, type: typeof type === 'string' ? type : undefined };
}

function safeJson(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const deepPattern = (levels: number) => `${'{"a":'.repeat(levels)}["x"]${'}'.repeat(levels)}`;
const EVENT = JSON.stringify({
  id: '1',
  account: '1',
  source: 's',
  time: 't',
  region: 'r',
  'detail-type': 'd',
});
const entry = (overrides: Record<string, unknown>) =>
  JSON.stringify({ Entries: [{ Source: 'inferbus.acme', DetailType: 'X', Detail: '{}', ...overrides }] });

type Case = readonly [name: string, target: string | null, body: string, type: RegExp, contentType?: string];

const PROTOTYPE_NAMES = ['toString', 'constructor', '__proto__', 'valueOf', 'hasOwnProperty', 'prototype'];
const SERVICES = [
  ['AWSEvents.', JSON11, /^UnknownOperationException$/],
  ['AmazonSQS.', JSON10, /UnknownOperationException$/],
  ['AmazonAthena.', JSON11, /^UnknownOperationException$/],
] as const;

const CASES: Case[] = [
  ...SERVICES.flatMap(([prefix, contentType, type]) =>
    [...PROTOTYPE_NAMES, '', 'NoSuchOperation'].map(
      (name): Case => [`${prefix}${name || '(empty)'}`, `${prefix}${name}`, '{}', type, contentType],
    ),
  ),
  ['EventBridge: Entries [null]', 'AWSEvents.PutEvents', '{"Entries":[null]}', /^ValidationException$/],
  ['EventBridge: Entries [1]', 'AWSEvents.PutEvents', '{"Entries":[1]}', /^SerializationException$/],
  ['EventBridge: Entries [[]]', 'AWSEvents.PutEvents', '{"Entries":[[]]}', /^SerializationException$/],
  ['EventBridge: Entries a string', 'AWSEvents.PutEvents', '{"Entries":"x"}', /^SerializationException$/],
  ['EventBridge: Entries an object', 'AWSEvents.PutEvents', '{"Entries":{}}', /^SerializationException$/],
  [
    'EventBridge: 11 entries',
    'AWSEvents.PutEvents',
    JSON.stringify({ Entries: Array(11).fill({ Source: 's', DetailType: 'd', Detail: '{}' }) }),
    /^ValidationException$/,
  ],
  ['EventBridge: numeric Source', 'AWSEvents.PutEvents', entry({ Source: 5 }), /^SerializationException$/],
  [
    'EventBridge: object DetailType',
    'AWSEvents.PutEvents',
    entry({ DetailType: {} }),
    /^SerializationException$/,
  ],
  ['EventBridge: object Detail', 'AWSEvents.PutEvents', entry({ Detail: {} }), /^SerializationException$/],
  [
    'EventBridge: Resources a string',
    'AWSEvents.PutEvents',
    entry({ Resources: 'arn' }),
    /^SerializationException$/,
  ],
  [
    'EventBridge: Resources [1]',
    'AWSEvents.PutEvents',
    entry({ Resources: [1] }),
    /^SerializationException$/,
  ],
  [
    'EventBridge: Resources [null]',
    'AWSEvents.PutEvents',
    entry({ Resources: [null] }),
    /^ValidationException$/,
  ],
  ['EventBridge: boolean Time', 'AWSEvents.PutEvents', entry({ Time: true }), /^SerializationException$/],
  ['EventBridge: object Time', 'AWSEvents.PutEvents', entry({ Time: {} }), /^SerializationException$/],
  [
    'EventBridge: numeric EventBusName',
    'AWSEvents.PutEvents',
    entry({ EventBusName: 5 }),
    /^SerializationException$/,
  ],
  [
    'EventBridge: numeric TraceHeader',
    'AWSEvents.PutEvents',
    entry({ TraceHeader: 5 }),
    /^SerializationException$/,
  ],
  [
    'EventBridge: numeric EndpointId',
    'AWSEvents.PutEvents',
    `{"EndpointId":5,${entry({}).slice(1)}`,
    /^SerializationException$/,
  ],
  ['EventBridge: body null', 'AWSEvents.PutEvents', 'null', /^SerializationException$/],
  ['EventBridge: body not JSON', 'AWSEvents.PutEvents', '{"Entries":[', /^SerializationException$/],
  [
    'EventBridge: 5,000-deep pattern',
    'AWSEvents.TestEventPattern',
    JSON.stringify({ EventPattern: deepPattern(5000), Event: EVENT }),
    /^ValidationException$/,
  ],
  [
    'EventBridge: pattern over 4096 characters',
    'AWSEvents.TestEventPattern',
    JSON.stringify({ EventPattern: JSON.stringify({ source: ['x'.repeat(4100)] }), Event: EVENT }),
    /^ValidationException$/,
  ],
  [
    'EventBridge: numeric EventPattern',
    'AWSEvents.TestEventPattern',
    JSON.stringify({ EventPattern: 5, Event: EVENT }),
    /^SerializationException$/,
  ],
  [
    'EventBridge: pattern not JSON',
    'AWSEvents.TestEventPattern',
    JSON.stringify({ EventPattern: '{', Event: EVENT }),
    /^InvalidEventPatternException$/,
  ],
  [
    'EventBridge: Event not JSON',
    'AWSEvents.TestEventPattern',
    JSON.stringify({ EventPattern: '{"source":["s"]}', Event: '{' }),
    /^ValidationException$/,
  ],
  ['EventBridge: string Limit', 'AWSEvents.ListRules', '{"Limit":"x"}', /^SerializationException$/],
  [
    'EventBridge: unknown bus __proto__',
    'AWSEvents.ListRules',
    '{"EventBusName":"__proto__"}',
    /^ResourceNotFoundException$/,
  ],
  ['SQS JSON: body not JSON', 'AmazonSQS.SendMessage', '{', /SerializationException$/, JSON10],
  [
    'SQS JSON: queue named constructor',
    'AmazonSQS.SendMessage',
    '{"QueueUrl":"constructor","MessageBody":"x"}',
    /QueueDoesNotExist$/,
    JSON10,
  ],
  ['SQS JSON: body an array', 'AmazonSQS.SendMessage', '[]', /InvalidParameterValue$/, JSON10],
  [
    'SQS JSON: numeric MaxNumberOfMessages',
    'AmazonSQS.ReceiveMessage',
    '{"QueueUrl":"q","MaxNumberOfMessages":"a"}',
    /InvalidParameterValue$/,
    JSON10,
  ],
  ['SQS query: Action=constructor', null, 'Action=constructor', /^UnknownOperationException$/, FORM],
  [
    'SQS query: Action=__proto__',
    null,
    'Action=__proto__',
    /^MissingAction$|^UnknownOperationException$/,
    FORM,
  ],
  [
    'SQS query: value and prefix',
    null,
    'Action=SendMessage&QueueUrl=q&a=1&a.b=2',
    /^MalformedQueryString$/,
    FORM,
  ],
  [
    'SQS query: MessageAttribute without index',
    null,
    'Action=SendMessage&QueueUrl=q&MessageAttribute=a',
    /^MalformedQueryString$/,
    FORM,
  ],
  [
    'SQS query: MessageAttribute without Name',
    null,
    'Action=SendMessage&QueueUrl=q&MessageAttribute.1.Value.StringValue=a',
    /^MalformedQueryString$/,
    FORM,
  ],
  [
    'Athena: numeric QueryExecutionContext',
    'AmazonAthena.StartQueryExecution',
    '{"QueryString":"SELECT 1","QueryExecutionContext":5}',
    /^SerializationException$/,
  ],
  [
    'Athena: ExecutionParameters [null]',
    'AmazonAthena.StartQueryExecution',
    '{"QueryString":"SELECT 1","ExecutionParameters":[null]}',
    /^InvalidRequestException$/,
  ],
  [
    'Athena: numeric QueryString',
    'AmazonAthena.StartQueryExecution',
    '{"QueryString":1}',
    /^SerializationException$/,
  ],
  [
    'Athena: NamedQueryIds [null, {}]',
    'AmazonAthena.BatchGetNamedQuery',
    '{"NamedQueryIds":[null,{}]}',
    /^InvalidRequestException$/,
  ],
  [
    'Athena: 51 NamedQueryIds',
    'AmazonAthena.BatchGetNamedQuery',
    JSON.stringify({ NamedQueryIds: Array(51).fill('x') }),
    /^InvalidRequestException$/,
  ],
  [
    'Athena: string MaxResults',
    'AmazonAthena.ListNamedQueries',
    '{"MaxResults":"5"}',
    /^SerializationException$/,
  ],
  [
    'Athena: workgroup named __proto__',
    'AmazonAthena.StartQueryExecution',
    '{"QueryString":"SELECT 1","WorkGroup":"__proto__"}',
    /^InvalidRequestException$/,
  ],
];

describe('hostile requests to the local endpoints', () => {
  it.each(
    CASES.map(([name, target, body, type, contentType]) => ({ name, target, body, type, contentType })),
  )('$name: refused with a 4xx and the AWS error type', async ({ target, body, type, contentType }) => {
    const answer = await post(target, body, contentType ?? JSON11);
    expect(answer.status, answer.text).toBeGreaterThanOrEqual(400);
    expect(answer.status, answer.text).toBeLessThan(500);
    expect(answer.type, answer.text).toMatch(type);
  });

  it('refuses a SendMessageBatch whose entry has a MessageBody of another type than string, as SendMessage does', async () => {
    for (const body of [1.5, [], { a: 1 }, true]) {
      const batch = await post(
        'AmazonSQS.SendMessageBatch',
        JSON.stringify({
          QueueUrl: queueUrl,
          Entries: [
            { Id: 'ok', MessageBody: 'x' },
            { Id: 'bad', MessageBody: body },
          ],
        }),
        JSON10,
      );
      expect(batch.status, batch.text).toBe(400);
      expect(batch.type, batch.text).toMatch(/InvalidParameterValue$/);
      expect(batch.text).toContain('Entries[1].MessageBody must be a string');
      const single = await post(
        'AmazonSQS.SendMessage',
        JSON.stringify({ QueueUrl: queueUrl, MessageBody: body }),
        JSON10,
      );
      expect(single.status, single.text).toBe(400);
      expect(single.type, single.text).toMatch(/InvalidParameterValue$/);
    }
  });

  it('lets no query parameter reach Object.prototype', async () => {
    await post(
      null,
      `Action=SendMessage&QueueUrl=${encodeURIComponent(queueUrl)}&MessageBody=x&__proto__.polluted=1&constructor.prototype.p2=1`,
      FORM,
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).p2).toBeUndefined();
  });

  it('answers the real SDK with its typed errors', async () => {
    const config = {
      endpoint: runtime.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    };
    const events = new EventBridgeClient(config);
    const athena = new AthenaClient(config);
    const sqs = new SQSClient(config);
    const refused = async (send: Promise<unknown>) => {
      const error = (await send.then(
        () => undefined,
        (e: unknown) => e,
      )) as { name: string; $metadata: { httpStatusCode?: number } } | undefined;
      return [error?.name, error?.$metadata.httpStatusCode];
    };
    try {
      expect(
        await refused(
          events.send(
            new PutEventsCommand({
              Entries: [{ Source: 5 as unknown as string, DetailType: 'd', Detail: '{}' }],
            }),
          ),
        ),
      ).toEqual(['SerializationException', 400]);
      expect(
        await refused(
          events.send(new TestEventPatternCommand({ EventPattern: deepPattern(5000), Event: EVENT })),
        ),
      ).toEqual(['ValidationException', 400]);
      expect(
        await refused(
          athena.send(
            new StartQueryExecutionCommand({
              QueryString: 'SELECT 1',
              WorkGroup: '__proto__',
            }),
          ),
        ),
      ).toEqual(['InvalidRequestException', 400]);
      expect(
        await refused(sqs.send(new SendMessageCommand({ QueueUrl: 'constructor', MessageBody: 'x' }))),
      ).toEqual(['QueueDoesNotExist', 400]);
    } finally {
      events.destroy();
      athena.destroy();
      sqs.destroy();
    }
  });
});

/** Valid requests, one per operation family, that the fuzz mutates. */
const SEEDS = (): [string | null, Record<string, unknown>, string][] => [
  [
    'AWSEvents.PutEvents',
    {
      Entries: [
        { Source: 'inferbus.acme', DetailType: 'InferenceRequested', Detail: '{"a":1}', Resources: ['r'] },
      ],
    },
    JSON11,
  ],
  ['AWSEvents.TestEventPattern', { EventPattern: '{"source":["s"]}', Event: EVENT }, JSON11],
  ['AWSEvents.ListRules', { Limit: 5 }, JSON11],
  [
    'AmazonSQS.SendMessage',
    {
      QueueUrl: queueUrl,
      MessageBody: 'x',
      MessageAttributes: { a: { DataType: 'String', StringValue: 'v' } },
    },
    JSON10,
  ],
  ['AmazonSQS.SendMessageBatch', { QueueUrl: queueUrl, Entries: [{ Id: 'a', MessageBody: 'x' }] }, JSON10],
  ['AmazonSQS.ReceiveMessage', { QueueUrl: queueUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 0 }, JSON10],
  ['AmazonSQS.GetQueueAttributes', { QueueUrl: queueUrl, AttributeNames: ['All'] }, JSON10],
  ['AmazonAthena.StartQueryExecution', { QueryString: 'SELECT 1', ExecutionParameters: ['1'] }, JSON11],
  ['AmazonAthena.BatchGetNamedQuery', { NamedQueryIds: ['x'] }, JSON11],
  ['AmazonAthena.GetQueryResults', { QueryExecutionId: 'x', MaxResults: 5 }, JSON11],
];

const HOSTILE_VALUES: unknown[] = [
  null,
  0,
  -1,
  1e308,
  1.5,
  true,
  '',
  '__proto__',
  'constructor',
  [],
  [null],
  {},
  { __proto__: null },
  'x'.repeat(300_000),
  JSON.parse(deepPattern(200)),
];

describe('fuzz: mutated valid requests', () => {
  it('never answers 5xx, never crashes, and the runtime still serves afterwards', async () => {
    const random = mulberry32(1507);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const seeds = SEEDS();
    const failures: string[] = [];
    for (let i = 0; i < 300; i++) {
      const [target, request, contentType] = pick(seeds);
      const mutated = structuredClone(request);
      // Mutate a top-level member, or a member of the first list item, with a hostile value.
      const holder =
        random() < 0.5 && Array.isArray(mutated.Entries)
          ? (mutated.Entries[0] as Record<string, unknown>)
          : mutated;
      const key = random() < 0.2 ? pick(['__proto__', 'constructor', 'Extra']) : pick(Object.keys(holder));
      if (random() < 0.15) delete holder[key];
      else holder[key] = pick(HOSTILE_VALUES);
      let body = JSON.stringify(mutated);
      if (random() < 0.1) body = body.slice(0, Math.floor(random() * body.length));
      const sentTarget =
        random() < 0.1 && target ? `${target.split('.')[0]}.${pick(PROTOTYPE_NAMES)}` : target;
      const answer = await post(sentTarget, body, contentType);
      if (answer.status >= 500 || (answer.status === 200 && sentTarget !== target))
        failures.push(`${sentTarget} ${body.slice(0, 200)} → ${answer.status} ${answer.text.slice(0, 200)}`);
    }
    for (let i = 0; i < 100; i++) {
      const params = new URLSearchParams({
        Action: pick(['SendMessage', 'ReceiveMessage', 'GetQueueAttributes', 'toString']),
        QueueUrl: queueUrl,
      });
      for (let p = 0; p < 3; p++)
        params.append(
          pick([
            'MessageBody',
            'MessageAttribute.1.Name',
            'MessageAttribute',
            'Attribute.1.Value',
            'AttributeName.1',
            'a',
            'a.b',
            '__proto__.x',
            'MaxNumberOfMessages',
          ]),
          pick(['1', '', 'x', 'All']),
        );
      const answer = await post(null, params.toString(), FORM);
      if (answer.status >= 500)
        failures.push(`query ${params} → ${answer.status} ${answer.text.slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
    const health = await fetch(`${runtime.endpoint}/health`);
    expect(health.status).toBe(200);
    const put = await post('AWSEvents.PutEvents', entry({}));
    expect(put.status).toBe(200);
    expect(JSON.parse(put.text).FailedEntryCount).toBe(0);
  }, 120_000);
});
