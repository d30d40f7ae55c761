import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  ListQueueTagsCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import { runDemo } from '../../local/demo/run-demo';
import { type AuthorizerModel, LocalAuthorizer } from '../../local/iam/authorizer';
import { localPrincipal } from '../../local/iam/credentials';
import { wildcardMatch } from '../../local/iam/wildcard';
import type { TemplateModel } from '../../local/model';
import { LocalRuntime, type LocalRuntimeOptions } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS, localS3ClientConfig } from '../../local/s3';
import { loadTemplateModel } from '../../local/template';
import { requestEvent } from '../support/sqs-records';
import {
  resourcesOf,
  synthesizedCdkOut,
  type TemplateJson,
  templateVariant,
} from '../support/template-variant';

/**
 * The local IAM wired into the runtime: functions sign with their own credentials, every call and
 * delivery is authorized against the template's policies, and a missing grant shows in the pipeline.
 */
const logs: string[] = [];
const start = (extra: Partial<LocalRuntimeOptions> = {}) =>
  LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    port: 0,
    stateDir: mkdtempSync(join(tmpdir(), 'inferbus-iam-')),
    log: (line) => logs.push(line),
    firehoseIntervalSeconds: 1,
    ...extra,
  });

async function metric(rt: LocalRuntime, name: string): Promise<{ labels: string; value: number }[]> {
  const text = await (await fetch(`${rt.endpoint}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`))
    .map((line) => ({
      labels: line.slice(name.length, line.lastIndexOf(' ')),
      value: Number(line.split(' ').at(-1)),
    }));
}

const fnId = (rt: { model: TemplateModel }, prefix: string) =>
  rt.model.functions.find((f) => f.logicalId.startsWith(prefix))?.logicalId as string;

describe('unmodified templates', () => {
  let rt: LocalRuntime;
  beforeAll(async () => {
    rt = await start();
    await runDemo(rt, { events: 30, out: () => {}, progress: () => {} });
  }, 300_000);
  afterAll(async () => rt?.stop());

  it('run the demo with zero denials, counted per function and service in /metrics', async () => {
    const denied = await metric(rt, 'iam_denied_total');
    expect(denied.filter((d) => d.value > 0)).toEqual([]);
    const allowed = await metric(rt, 'iam_allowed_total');
    const tier1 = fnId(rt, 'TaskSpamTier1');
    for (const service of ['dynamodb', 'events']) {
      expect(
        allowed.find((a) => a.labels === `{principal="${tier1}",service="${service}"}`)?.value,
      ).toBeGreaterThan(0);
    }
    expect(allowed.find((a) => a.labels.includes('"events.amazonaws.com"'))?.value).toBeGreaterThan(0);
    expect(logs.filter((l) => l.startsWith('iam:'))).toEqual([]);
  });

  it('gives each function its own credentials, bound to its role', () => {
    const tier1 = rt.lambda.environmentOf(fnId(rt, 'TaskSpamTier1'));
    const tier2 = rt.lambda.environmentOf(fnId(rt, 'TaskSpamTier2'));
    expect(tier1.AWS_ACCESS_KEY_ID).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(tier1.AWS_ACCESS_KEY_ID).not.toBe(tier2.AWS_ACCESS_KEY_ID);
    expect(rt.iam?.callerOf(tier1.AWS_ACCESS_KEY_ID)).toMatchObject({
      kind: 'principal',
      principal: {
        roleArn: rt.model.functions.find((f) => f.logicalId === fnId(rt, 'TaskSpamTier1'))?.roleArn,
      },
    });
  });

  it('needs every grant the calls used: without any one action of its statement, that call is denied', () => {
    const observed = rt.iam?.observed() ?? [];
    const used = new Map(observed.map((o) => [`${o.principal} ${o.request.action}`, o]));
    expect([...used.keys()].some((k) => k.endsWith('dynamodb:BatchGetItem'))).toBe(true);
    // The archive is written by the rules (PutRecord, single events) or by the handlers
    // (PutRecordBatch, the rows of packs): which ones depends on how the demo's requests packed.
    expect([...used.keys()].some((k) => /firehose:PutRecord(Batch)?$/.test(k))).toBe(true);
    for (const access of used.values()) {
      const narrowed = withoutAction(rt.model, access.roleArn, access.request.action);
      let denial: string | undefined;
      try {
        const iam = new LocalAuthorizer(narrowed);
        const principal = localPrincipal(access.principal, access.roleArn, 'test');
        denial = iam.decide({ kind: 'principal', principal }, access.request)?.message;
      } catch (error) {
        denial = (error as Error).message; // the start-up check (event source mappings) refused it
      }
      expect(denial, `${access.principal} ${access.request.action}`).toContain(access.request.action);
    }
  });

  it('answers a function credentials call it has no grant for as AWS does, in each protocol', async () => {
    const credentials = rt.iam?.credentialsOf(fnId(rt, 'TaskSpamTier2'));
    const session = rt.iam?.principalOf(fnId(rt, 'TaskSpamTier2'))?.sessionArn as string;
    const config = { endpoint: rt.endpoint, region: rt.model.region, credentials };
    const table = rt.model.tables[0]?.name as string;
    const tier1Queue = rt.model.queues.find((q) => q.name.endsWith('-spam-t1-acme'));

    const dynamo = new DynamoDBClient({ ...config, endpoint: rt.dynamodb?.endpoint });
    const dynamoError = await dynamo
      .send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'x' } } }))
      .catch((e) => e);
    expect(dynamoError.name).toBe('AccessDeniedException');
    expect(dynamoError.message).toBe(
      `User: ${session} is not authorized to perform: dynamodb:GetItem on resource: arn:aws:dynamodb:${rt.model.region}:000000000000:table/${table} because no identity-based policy allows the dynamodb:GetItem action`,
    );

    const sqsError = await new SQSClient(config)
      .send(new SendMessageCommand({ QueueUrl: tier1Queue?.url, MessageBody: 'x' }))
      .catch((e) => e);
    expect(sqsError.name).toBe('AccessDenied');
    expect(sqsError.$metadata.httpStatusCode).toBe(403);
    expect(sqsError.message).toContain(
      `is not authorized to perform: sqs:sendmessage on resource: ${tier1Queue?.arn}`,
    );

    const query = await fetch(rt.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `AWS4-HMAC-SHA256 Credential=${credentials?.accessKeyId}/20260101/${rt.model.region}/sqs/aws4_request, SignedHeaders=host, Signature=0`,
      },
      body: new URLSearchParams({ Action: 'ReceiveMessage', QueueUrl: tier1Queue?.url as string }).toString(),
    });
    expect(query.status).toBe(403);
    expect(await query.text()).toMatch(
      /<Code>AccessDenied<\/Code><Message>User: .* sqs:receivemessage on resource/,
    );

    const events = await new EventBridgeClient(config)
      .send(new PutEventsCommand({ Entries: [{ Source: 's', DetailType: 'd', Detail: '{}' }] }))
      .catch((e) => e);
    expect(events.name).toBe('AccessDeniedException');
    expect(events.message).toContain('events:PutEvents on resource: arn:aws:events:');

    const bucket = rt.model.buckets.find((b) => b.logicalId.startsWith('ArchiveBucket'))?.name;
    const s3 = new S3Client({ ...localS3ClientConfig(rt.s3.endpoint, rt.model.region), credentials });
    const s3Error = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'any' })).catch((e) => e);
    expect(s3Error.name).toBe('AccessDenied');
    expect(s3Error.message).toContain(`s3:GetObject on resource: arn:aws:s3:::${bucket}/any`);

    // The developer's own credentials: allowed (the queue answers, the item is simply absent).
    const user = { endpoint: rt.endpoint, region: rt.model.region, credentials: LOCAL_S3_CREDENTIALS };
    await expect(
      new SQSClient(user).send(
        new ReceiveMessageCommand({ QueueUrl: tier1Queue?.url, VisibilityTimeout: 0 }),
      ),
    ).resolves.toBeDefined();
    const userDynamo = new DynamoDBClient({ ...user, endpoint: rt.dynamodb?.endpoint });
    await expect(
      userDynamo.send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'x' } } })),
    ).resolves.toBeDefined();
  });

  it('refuses a call the action table does not map, made with a function credentials, naming the table', async () => {
    const credentials = rt.iam?.credentialsOf(fnId(rt, 'TaskSpamTier1'));
    const queue = rt.model.queues[0]?.url;
    const error = await new SQSClient({ endpoint: rt.endpoint, region: rt.model.region, credentials })
      .send(new ListQueueTagsCommand({ QueueUrl: queue }))
      .catch((e) => e);
    expect(error.$metadata.httpStatusCode).toBe(501);
    expect(error.message).toContain('no action mapping for sqs ListQueueTags');
    expect(error.message).toContain('local/iam/actions.ts');
    expect(logs.some((l) => l.includes('iam: REFUSED') && l.includes('ListQueueTags'))).toBe(true);
  });
});

/** The model with `action` taken out of every statement of the role that names it (exactly or by wildcard). */
function withoutAction(model: TemplateModel, roleArn: string, action: string): AuthorizerModel {
  const roles = new Map(model.iam.roles);
  const role = roles.get(roleArn);
  if (!role) throw new Error(`no role ${roleArn}`);
  roles.set(roleArn, {
    ...role,
    statements: role.statements.map((s) =>
      s.Action ? { ...s, Action: s.Action.filter((a) => !wildcardMatch(a, action, true)) } : s,
    ),
  });
  return { ...model, iam: { ...model.iam, roles } };
}

describe('start-up refusals', () => {
  let model: TemplateModel;
  let tier1Role: string;
  beforeAll(async () => {
    model = loadTemplateModel(await synthesizedCdkOut(), 'inferbus-dev', { endpoint: 'http://127.0.0.1:1' });
    tier1Role = model.functions.find((f) => f.logicalId.startsWith('TaskSpamTier1'))?.roleArn as string;
  }, 300_000);
  type Role = NonNullable<ReturnType<TemplateModel['iam']['roles']['get']>>;
  const withRole = (change: (role: Role) => Partial<Role>) => {
    const roles = new Map(model.iam.roles);
    const role = roles.get(tier1Role) as Role;
    roles.set(tier1Role, { ...role, ...change(role) });
    return { ...model, iam: { ...model.iam, roles } };
  };

  it('refuses a run function role with managed policies, naming them', () => {
    const arn = 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';
    expect(() => new LocalAuthorizer(withRole(() => ({ managedPolicyArns: [arn] })))).toThrow(
      new RegExp(`${tier1Role}.*Tier1.*managed policies.*AWSLambdaBasicExecutionRole`),
    );
  });

  it('refuses a condition key the runtime does not supply, naming it', () => {
    const statement = {
      Sid: 'Regional',
      Effect: 'Allow' as const,
      Action: ['sqs:SendMessage'],
      Resource: ['*'],
      Condition: { StringEquals: { 'aws:RequestedRegion': ['eu-west-1'] } },
    };
    expect(
      () => new LocalAuthorizer(withRole((r) => ({ statements: [...r.statements, statement] }))),
    ).toThrow(/statement Regional tests condition key aws:RequestedRegion/);
  });

  it('refuses to start when a function role cannot consume its queue (sqs:ReceiveMessage removed)', async () => {
    const cdkOutDir = await templateVariant((t) => {
      for (const [, policy] of resourcesOf(t, 'AWS::IAM::Policy', 'TaskSpamTier1Role')) {
        for (const s of policy.Properties.PolicyDocument.Statement) {
          if (Array.isArray(s.Action)) s.Action = s.Action.filter((a: string) => a !== 'sqs:ReceiveMessage');
        }
      }
    });
    await expect(start({ cdkOutDir })).rejects.toThrow(
      /The provided execution role does not have permissions to call ReceiveMessage on SQS.*sqs:ReceiveMessage/,
    );
  });
});

describe('a template with the old tier-1 action list, a queue policy without its aws:SourceArn statement and a bus policy denying a detail type', () => {
  let rt: LocalRuntime;
  const variant = (t: TemplateJson) => {
    for (const [, policy] of resourcesOf(t, 'AWS::IAM::Policy', 'TaskSpamTier1Role')) {
      for (const s of policy.Properties.PolicyDocument.Statement) {
        if (Array.isArray(s.Action)) s.Action = s.Action.filter((a: string) => a !== 'dynamodb:BatchGetItem');
      }
    }
    for (const [, policy] of resourcesOf(
      t,
      'AWS::SQS::QueuePolicy',
      'TaskSpamTier1TenantAcmeWorkQueuePolicy',
    )) {
      const statements = policy.Properties.PolicyDocument.Statement;
      policy.Properties.PolicyDocument.Statement = statements.filter(
        (s: { Condition?: Record<string, Record<string, unknown>> }) =>
          !s.Condition?.ArnEquals?.['aws:SourceArn'],
      );
    }
    const [[, busPolicy] = []] = resourcesOf(t, 'AWS::Events::EventBusPolicy');
    t.Resources.ForgedResultsDenied = {
      Type: 'AWS::Events::EventBusPolicy',
      Properties: {
        EventBusName: busPolicy?.Properties.EventBusName,
        StatementId: 'ForgedResultsDenied',
        Statement: {
          Sid: 'ForgedResultsDenied',
          Effect: 'Deny',
          Principal: '*',
          Action: 'events:PutEvents',
          Resource: busPolicy?.Properties.Statement.Resource,
          Condition: { StringEquals: { 'events:detail-type': 'ForgedResult' } },
        },
      },
    };
  };
  beforeAll(async () => {
    rt = await start({
      cdkOutDir: await templateVariant(variant),
      visibilityTimeoutSeconds: 6,
      functionTimeoutSeconds: 5,
      functionLog: (line) => logs.push(line),
    });
  }, 180_000);
  afterAll(async () => rt?.stop());

  const busName = () => rt.model.buses.find((b) => b.name !== 'default')?.name as string;
  const request = (id: string, tenant: string) => ({
    EventBusName: busName(),
    Source: `inferbus.${tenant}`,
    DetailType: 'InferenceRequested',
    Detail: JSON.stringify(JSON.parse(requestEvent(id, `message ${id}`, tenant)).detail),
  });
  const user = () => ({ endpoint: rt.endpoint, region: rt.model.region, credentials: LOCAL_S3_CREDENTIALS });
  const drain = async (queueName: string) => {
    const queue = rt.model.queues.find((q) => q.name.includes(queueName));
    const { Messages = [] } = await new SQSClient(user()).send(
      new ReceiveMessageCommand({
        QueueUrl: queue?.url,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        MessageAttributeNames: ['All'],
      }),
    );
    return Messages;
  };

  it('dead-letters tier-1 records with the AccessDenied reason, and queue deliveries to the rule DLQ', async () => {
    const events = new EventBridgeClient(user());
    const sent = await events.send(
      new PutEventsCommand({
        Entries: [0, 1, 2].flatMap((i) => [request(`g-${i}`, 'globex'), request(`a-${i}`, 'acme')]),
      }),
    );
    expect(sent.FailedEntryCount).toBe(0);
    await rt.settle({ quietMs: 1500, timeoutMs: 120_000 });

    const tier1Dlq = await drain('-spam-t1-globex-dlq');
    expect(tier1Dlq.map((m) => JSON.parse(m.Body ?? '{}').detail.id).sort()).toEqual(['g-0', 'g-1', 'g-2']);
    for (const m of tier1Dlq) {
      expect(m.MessageAttributes?.ERROR_CODE?.StringValue).toBe('RetriesExhausted.TenantStateUnavailable');
      expect(m.MessageAttributes?.ERROR_MESSAGE?.StringValue).toMatch(
        /^User: arn:aws:sts::000000000000:assumed-role\/.*TaskSpamTier1Role.* is not authorized to perform: dynamodb:BatchGetItem on resource: .*table\/.* because no identity-based policy allows the dynamodb:BatchGetItem action/,
      );
    }

    const ruleDlq = await drain('TaskSpamTier1TenantAcmeRuleDlqQueue');
    expect(ruleDlq.map((m) => JSON.parse(m.Body ?? '{}').detail.id).sort()).toEqual(['a-0', 'a-1', 'a-2']);
    for (const m of ruleDlq) {
      expect(m.MessageAttributes?.ERROR_CODE?.StringValue).toBe('NO_PERMISSIONS');
      expect(m.MessageAttributes?.RETRY_ATTEMPTS?.StringValue).toBe('0');
      expect(m.MessageAttributes?.ERROR_MESSAGE?.StringValue).toContain(
        'events.amazonaws.com is not authorized to perform: sqs:SendMessage',
      );
    }
    const denied = await metric(rt, 'iam_denied_total');
    expect(
      denied.find((d) => d.labels.includes('TaskSpamTier1') && d.labels.includes('dynamodb'))?.value,
    ).toBeGreaterThan(0);
    expect(denied.find((d) => d.labels.includes('events.amazonaws.com'))?.value).toBe(3);
  }, 150_000);

  it("refuses the developer's own PutEvents entries that a bus policy denies explicitly, and only those", async () => {
    const events = new EventBridgeClient(user());
    const forged = { ...request('f-1', 'globex'), DetailType: 'ForgedResult' };
    const mixed = await events.send(new PutEventsCommand({ Entries: [request('ok-1', 'initech'), forged] }));
    expect(mixed.FailedEntryCount).toBe(1);
    expect(mixed.Entries?.[0]?.EventId).toBeDefined();
    expect(mixed.Entries?.[1]).toMatchObject({
      ErrorCode: 'AccessDeniedException',
      ErrorMessage: expect.stringMatching(
        /events:PutEvents on resource: .* with an explicit deny in a resource-based policy/,
      ),
    });
    const all = await events.send(new PutEventsCommand({ Entries: [forged] })).catch((e) => e);
    expect(all.name).toBe('AccessDeniedException');
  });
});
