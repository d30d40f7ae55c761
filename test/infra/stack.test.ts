import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARCHIVE_COLUMNS, ARCHIVE_TABLE_NAME } from '../../functions/core/archive/columns';
import { NAMED_QUERIES } from '../../functions/core/archive/named-queries';
import { loadStageConfig, stages } from '../../lib/config';
import { allTiers, type Synthesized, synth, tierOf } from './synth';

type Resource = { Type: string; Properties: Record<string, any>; Metadata?: Record<string, any> };

let s: Synthesized;
const dev = loadStageConfig('dev');
const tenants = dev.tenants.map((t) => t.id);
/** Every tier of every task of the dev stage: the stack has one function, alias and lanes for each. */
const devTiers = dev.tasks.flatMap((task) =>
  task.tiers.map((config, i) => ({ task: task.id, tier: i + 1, last: i === task.tiers.length - 1, config })),
);
const devTier = (task: string, tier: number) => {
  const found = devTiers.find((t) => t.task === task && t.tier === tier);
  if (!found) throw new Error(`dev has no tier ${tier} of task ${task}`);
  return found;
};

beforeAll(() => {
  s = synth();
});

const resources = (type: string): [string, Resource][] =>
  Object.entries(s.template.findResources(type)) as [string, Resource][];
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  s.stack.getLogicalId(construct.node.defaultChild as never);

describe('bus', () => {
  it('is a custom bus named per stage, with an archive for replay', () => {
    s.template.hasResourceProperties('AWS::Events::EventBus', { Name: 'inferbus-dev' });
    s.template.hasResourceProperties('AWS::Events::Archive', {
      RetentionDays: dev.archive.replayRetentionDays,
      EventPattern: { source: [{ prefix: '' }] },
    });
  });

  it('lets only this account publish when no tenant principals are configured', () => {
    const allows = resources('AWS::Events::EventBusPolicy')
      .map(([, p]) => p.Properties.Statement)
      .filter((st) => st.Effect === 'Allow');
    expect(allows).toHaveLength(1);
    expect(allows[0]).toMatchObject({ Effect: 'Allow', Action: 'events:PutEvents' });
    expect(JSON.stringify(allows[0].Principal)).toContain(':root');
  });

  it('restricts each tenant principal to its own source', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferbus-config-'));
    const path = join(dir, 'tenants.json');
    const [acme, globex] = structuredClone(stages.dev.tenants);
    if (!acme || !globex) throw new Error('dev has two tenants');
    const role = 'arn:aws:iam::210987654321:role/acme-publisher';
    writeFileSync(
      path,
      JSON.stringify({ tenants: [{ ...acme, publisherPrincipals: ['123456789012', role] }, globex] }),
    );

    const { template } = synth({ stage: 'dev', config: path });

    // This account, acme, and the two denies that keep results to the handlers.
    template.resourceCountIs('AWS::Events::EventBusPolicy', 4);
    template.hasResourceProperties('AWS::Events::EventBusPolicy', {
      Statement: {
        Sid: 'cdk-TenantAcmePublishesOwnSource',
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Principal: { AWS: Match.arrayWith([role]) },
        Condition: {
          StringEquals: { 'events:source': ['inferbus.acme'], 'events:detail-type': ['InferenceRequested'] },
        },
      },
    });
  });
});

describe('inference tiers', () => {
  it('runs each tier as nodejs22.x on arm64, named per task and tier, with the onnxruntime and its task model layers (tier 1 also its tenant-config layer), JSON logs and source maps', () => {
    const functions = resources('AWS::Lambda::Function').filter(
      ([, r]) => r.Properties.Environment?.Variables?.INFERBUS_TIER,
    );
    expect(functions).toHaveLength(devTiers.length);
    for (const [, fn] of functions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        LoggingConfig: { LogFormat: 'JSON' },
        TracingConfig: { Mode: 'Active' },
      });
      const entryTier = fn.Properties.Environment.Variables.INFERBUS_TIER === '1';
      expect(fn.Properties.Layers).toHaveLength(entryTier ? 3 : 2);
      const task = fn.Properties.Environment.Variables.INFERBUS_TASK;
      const tier = Number(fn.Properties.Environment.Variables.INFERBUS_TIER);
      const { last, config } = devTier(task, tier);
      expect(fn.Properties.FunctionName).toBe(`inferbus-dev-${task}-tier${tier}`);
      expect(fn.Properties.Environment.Variables).toMatchObject({
        NODE_OPTIONS: '--enable-source-maps',
        MODELS_DIR: '/opt/models',
        INFERBUS_LAST_TIER: String(last),
        MODEL_NAME: config.model,
      });
      // The last tier answers everything: it gets no threshold to misread.
      expect(fn.Properties.Environment.Variables.CASCADE_THRESHOLD).toBe(
        config.threshold === undefined ? undefined : String(config.threshold),
      );
    }
    const memory = functions.map(([, r]) => [
      `${r.Properties.Environment.Variables.INFERBUS_TASK}/${r.Properties.Environment.Variables.INFERBUS_TIER}`,
      r.Properties.MemorySize,
    ]);
    expect(Object.fromEntries(memory)).toEqual(
      Object.fromEntries(devTiers.map((t) => [`${t.task}/${t.tier}`, t.config.memoryMiB])),
    );
  });

  it('publishes an alias "live" with provisioned concurrency and target tracking on its utilization', () => {
    s.template.resourceCountIs('AWS::Lambda::Alias', devTiers.length);
    const provisioned = devTiers.filter(({ config }) => config.provisionedConcurrency.min > 0);
    for (const { task, tier, config } of devTiers) {
      const alias = tierOf(s.stack, task, tier).alias;
      const aliasResource = s.template.toJSON().Resources[logicalId(alias)];
      expect(aliasResource.Properties.Name).toBe('live');
      const target = resources('AWS::ApplicationAutoScaling::ScalableTarget').find(([, r]) =>
        JSON.stringify(r.Properties.ResourceId).includes(logicalId(alias)),
      );
      if (config.provisionedConcurrency.min === 0) {
        // Nothing provisioned: no warm instances to pay for, and nothing to scale.
        expect(aliasResource.Properties.ProvisionedConcurrencyConfig).toBeUndefined();
        expect(target).toBeUndefined();
        continue;
      }
      expect(aliasResource.Properties.ProvisionedConcurrencyConfig).toEqual({
        ProvisionedConcurrentExecutions: config.provisionedConcurrency.min,
      });
      expect(target?.[1].Properties).toMatchObject({
        MinCapacity: config.provisionedConcurrency.min,
        MaxCapacity: config.provisionedConcurrency.max,
        ScalableDimension: 'lambda:function:ProvisionedConcurrency',
      });
    }
    s.template.resourcePropertiesCountIs(
      'AWS::ApplicationAutoScaling::ScalingPolicy',
      {
        TargetTrackingScalingPolicyConfiguration: {
          PredefinedMetricSpecification: { PredefinedMetricType: 'LambdaProvisionedConcurrencyUtilization' },
          TargetValue: 0.7,
        },
      },
      provisioned.length,
    );
  });

  it('gives every tenant of every tier its own queue, DLQ and event source on the alias', () => {
    s.template.resourceCountIs('AWS::Lambda::EventSourceMapping', tenants.length * devTiers.length);
    for (const { task, tier, config } of devTiers) {
      const construct = tierOf(s.stack, task, tier);
      for (const tenant of dev.tenants) {
        const lane = construct.lanes.find((l) => l.tenantId === tenant.id);
        if (!lane) throw new Error(`no lane for ${tenant.id}`);
        s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          EventSourceArn: { 'Fn::GetAtt': [logicalId(lane.queue), 'Arn'] },
          FunctionName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([':live'])]) }),
          BatchSize: config.batchSize,
          MaximumBatchingWindowInSeconds: config.maxBatchingWindowSeconds,
          ScalingConfig: {
            MaximumConcurrency: Math.max(2, Math.floor(config.maxConcurrency * tenant.maxConcurrencyShare)),
          },
          FunctionResponseTypes: ['ReportBatchItemFailures'],
        });
        s.template.hasResourceProperties('AWS::SQS::Queue', {
          VisibilityTimeout: Match.anyValue(),
          RedrivePolicy: {
            deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(lane.deadLetterQueue), 'Arn'] },
            maxReceiveCount: config.maxReceiveCount,
          },
        });
        const queue = s.template.toJSON().Resources[logicalId(lane.queue)];
        expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(config.timeoutSeconds * 6);
      }
    }
  });

  it("routes InferenceRequested (with task spam or none) to spam's tier 1 and its tier-1 escalations to tier 2, per tenant namespace", () => {
    for (const tenant of tenants) {
      s.template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: [`inferbus.${tenant}`],
          'detail-type': ['InferenceRequested'],
          detail: { tenant: [tenant], task: ['spam', { exists: false }] },
        },
      });
      s.template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['inferbus.results'],
          'detail-type': ['EscalationRequested'],
          detail: { tenant: [tenant], payload: { task: ['spam'], tier: [1] } },
        },
      });
    }
  });

  it('names every work queue and DLQ by stage, task, tier and tenant', () => {
    for (const { task, tier } of devTiers) {
      for (const lane of tierOf(s.stack, task, tier).lanes) {
        const queue = s.template.toJSON().Resources[logicalId(lane.queue)];
        const dlq = s.template.toJSON().Resources[logicalId(lane.deadLetterQueue)];
        expect(queue.Properties.QueueName).toBe(`inferbus-dev-${task}-t${tier}-${lane.tenantId}`);
        expect(dlq.Properties.QueueName).toBe(`inferbus-dev-${task}-t${tier}-${lane.tenantId}-dlq`);
      }
    }
  });

  it('gives every rule target a retry policy and a dead-letter queue', () => {
    const rules = resources('AWS::Events::Rule');
    // tier rules, the archive rules, the unrouted rule
    expect(rules).toHaveLength(tenants.length * devTiers.length + s.stack.archive.rules.length + 1);
    for (const [, rule] of rules) {
      for (const target of rule.Properties.Targets) {
        expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 });
        expect(target.DeadLetterConfig.Arn).toBeDefined();
      }
    }
  });
});

describe('queues', () => {
  it('encrypts every queue and denies every request without TLS', () => {
    const queues = resources('AWS::SQS::Queue');
    // Per tenant and tier: work queue, its DLQ, the rule's DLQ; the archive rule's DLQ; the
    // unrouted-requests queue and its rule's DLQ.
    expect(queues).toHaveLength(tenants.length * devTiers.length * 3 + 3);
    for (const [, queue] of queues) expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    const guarded = new Set(
      resources('AWS::SQS::QueuePolicy')
        .filter(([, p]) =>
          p.Properties.PolicyDocument.Statement.some(
            (st: any) => st.Effect === 'Deny' && st.Condition?.Bool?.['aws:SecureTransport'] === 'false',
          ),
        )
        .flatMap(([, p]) => p.Properties.Queues.map((q: any) => q.Ref)),
    );
    for (const [id] of queues) expect(guarded).toContain(id);
  });
});

describe('tenant isolation of dead-letter queues', () => {
  const acmeReader = 'arn:aws:iam::210987654321:role/acme-ops';
  const acmePublisher = '123456789012';
  const globexReader = 'arn:aws:iam::345678901234:role/globex-ops';
  let isolated: Synthesized;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'inferbus-config-'));
    const path = join(dir, 'tenants.json');
    const [acme, globex, initech] = structuredClone(stages.dev.tenants);
    if (!acme || !globex || !initech) throw new Error('dev has three tenants');
    const config = {
      tenants: [
        { ...acme, publisherPrincipals: [acmePublisher], dlqReaderPrincipals: [acmeReader] },
        { ...globex, dlqReaderPrincipals: [globexReader] },
        initech,
      ],
    };
    writeFileSync(path, JSON.stringify(config));
    isolated = synth({ stage: 'dev', config: path });
  });

  /** The policy statements on each of a tenant's DLQs (both tiers, work-queue and rule-target DLQs). */
  const dlqPolicies = (tenant: string): any[][] => {
    const lanes = allTiers(isolated.stack).flatMap((tier) =>
      tier.lanes.filter((lane) => lane.tenantId === tenant),
    );
    const ids = lanes.flatMap((lane) =>
      [lane.deadLetterQueue, lane.ruleDeadLetterQueue].map((q) =>
        isolated.stack.getLogicalId(q.node.defaultChild as never),
      ),
    );
    // two per lane: one lane per tier of every task
    expect(ids).toHaveLength(devTiers.length * 2);
    const policies = Object.values(isolated.template.findResources('AWS::SQS::QueuePolicy')) as Resource[];
    return ids.map((id) => {
      const policy = policies.find((p) => p.Properties.Queues.some((q: any) => q.Ref === id));
      if (!policy) throw new Error(`no queue policy on ${id}`);
      return policy.Properties.PolicyDocument.Statement;
    });
  };

  /** IAM's rule for one principal and action over resource-policy statements: an explicit deny wins. */
  const decide = (statements: any[], principal: string, action: string): 'allow' | 'deny' | 'none' => {
    const names = (st: any) => [st.Principal?.AWS ?? []].flat().map((p: unknown) => JSON.stringify(p));
    const matches = (st: any) =>
      !st.Condition && // the TLS guard has a condition; these callers use TLS
      names(st).some((n) => n.includes(principal)) &&
      [st.Action].flat().some((a: string) => a === 'sqs:*' || a === action);
    if (statements.some((st) => st.Effect === 'Deny' && matches(st))) return 'deny';
    return statements.some((st) => st.Effect === 'Allow' && matches(st)) ? 'allow' : 'none';
  };

  it("lets a tenant's readers inspect its own DLQs, but not delete or redrive from them", () => {
    for (const statements of dlqPolicies('acme')) {
      expect(decide(statements, acmeReader, 'sqs:ReceiveMessage')).toBe('allow');
      expect(decide(statements, acmeReader, 'sqs:GetQueueAttributes')).toBe('allow');
      expect(decide(statements, acmeReader, 'sqs:DeleteMessage')).toBe('none');
      expect(decide(statements, acmeReader, 'sqs:StartMessageMoveTask')).toBe('none');
    }
  });

  it("denies every other tenant's principals everything on a tenant's DLQs", () => {
    for (const statements of dlqPolicies('acme')) {
      expect(decide(statements, globexReader, 'sqs:ReceiveMessage')).toBe('deny');
    }
    for (const statements of dlqPolicies('globex')) {
      for (const other of [acmeReader, acmePublisher]) {
        expect(decide(statements, other, 'sqs:ReceiveMessage')).toBe('deny');
        expect(decide(statements, other, 'sqs:PurgeQueue')).toBe('deny');
      }
      expect(decide(statements, globexReader, 'sqs:ReceiveMessage')).toBe('allow');
    }
    for (const statements of dlqPolicies('initech')) {
      for (const other of [acmeReader, acmePublisher, globexReader]) {
        expect(decide(statements, other, 'sqs:ReceiveMessage')).toBe('deny');
      }
    }
  });

  it('leaves the unrouted queues out of the tenant deny: their events belong to no configured tenant', () => {
    const ids = [isolated.stack.unrouted.queue, isolated.stack.unrouted.ruleDeadLetterQueue].map((q) =>
      isolated.stack.getLogicalId(q.node.defaultChild as never),
    );
    const policies = Object.values(isolated.template.findResources('AWS::SQS::QueuePolicy')) as Resource[];
    for (const id of ids) {
      const statements = policies
        .filter((p) => p.Properties.Queues.some((q: any) => q.Ref === id))
        .flatMap((p) => p.Properties.PolicyDocument.Statement);
      expect(statements.length).toBeGreaterThan(0);
      for (const principal of [acmeReader, acmePublisher, globexReader]) {
        expect(decide(statements, principal, 'sqs:ReceiveMessage')).toBe('none');
      }
    }
  });

  it('adds no tenant statements when no tenant has outside principals', () => {
    const statements = Object.values(s.template.findResources('AWS::SQS::QueuePolicy')).flatMap(
      (p: any) => p.Properties.PolicyDocument.Statement,
    );
    expect(
      statements.filter((st: any) =>
        /^(Tenant[A-Za-z0-9]+ReadsOwnDeadLetters|OtherTenantsDenied)$/.test(st.Sid ?? ''),
      ),
    ).toEqual([]);
  });
});

describe('least privilege', () => {
  const statementsOf = (tier: 'tier1' | 'tier2') => {
    const role = logicalId(tierOf(s.stack, 'spam', Number(tier.slice(4))).function.role as never);
    return resources('AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: any) => r.Ref === role))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
  };
  const actions = (st: any) => [st.Action].flat();

  it.each(['tier1', 'tier2'] as const)('%s may put events only to this bus', (tier) => {
    const put = statementsOf(tier).filter((st) => actions(st).includes('events:PutEvents'));
    expect(put).toHaveLength(1);
    expect(put[0].Resource).toEqual({ 'Fn::GetAtt': [logicalId(s.stack.bus.bus), 'Arn'] });
  });

  it.each(['tier1', 'tier2'] as const)(
    '%s reads only its own queues and sends only to its own DLQs (tier 1 also re-queues delayed records to its own queues)',
    (tier) => {
      const lanes = tierOf(s.stack, 'spam', Number(tier.slice(4))).lanes;
      const arnOf = (q: any) => ({ 'Fn::GetAtt': [logicalId(q), 'Arn'] });
      const statements = statementsOf(tier);
      const receive = statements
        .filter((st) => actions(st).includes('sqs:ReceiveMessage'))
        .flatMap((st) => [st.Resource].flat());
      expect(receive).toEqual(expect.arrayContaining(lanes.map((l) => arnOf(l.queue))));
      expect(receive).toHaveLength(lanes.length);
      const send = statements
        .filter((st) => actions(st).includes('sqs:SendMessage'))
        .flatMap((st) => [st.Resource].flat());
      // Tier 1 enforces quota and ordering: records over quota or held go back to their own queue.
      const requeue = tier === 'tier1' ? lanes.map((l) => arnOf(l.queue)) : [];
      expect(send).toEqual(
        expect.arrayContaining([...lanes.map((l) => arnOf(l.deadLetterQueue)), ...requeue]),
      );
      expect(send).toHaveLength(lanes.length + requeue.length);
    },
  );

  it.each(['tier1', 'tier2'] as const)(
    '%s has no wildcard resource except X-Ray, which has no ARNs',
    (tier) => {
      for (const st of statementsOf(tier)) {
        if ([st.Resource].flat().includes('*')) {
          expect(actions(st).every((a: string) => a.startsWith('xray:'))).toBe(true);
        }
      }
    },
  );

  it('attaches no AWS managed policy to the inference functions', () => {
    for (const tier of ['tier1', 'tier2'] as const) {
      const role =
        s.template.toJSON().Resources[
          logicalId(tierOf(s.stack, 'spam', Number(tier.slice(4))).function.role as never)
        ];
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('archive', () => {
  it('stores data in an encrypted, versioned, private, TLS-only bucket with lifecycle rules', () => {
    const bucket = s.template.toJSON().Resources[logicalId(s.stack.archive.bucket)];
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: 'Enabled' },
    });
    const rules = bucket.Properties.LifecycleConfiguration.Rules;
    expect(rules.find((r: any) => r.Id === 'retention')?.ExpirationInDays).toBe(dev.archive.retentionDays);
  });

  it('archives events through rules that share one role and one DLQ (test/infra/archive-rules.test.ts checks their patterns)', () => {
    const archiveRules = s.stack.archive.rules.map((rule) => s.template.toJSON().Resources[logicalId(rule)]);
    const roles = new Set(archiveRules.map((rule) => JSON.stringify(rule.Properties.Targets[0].RoleArn)));
    const dlqs = new Set(
      archiveRules.map((rule) => JSON.stringify(rule.Properties.Targets[0].DeadLetterConfig)),
    );
    expect(roles.size).toBe(1);
    expect(dlqs.size).toBe(1);
    // The archive DLQ accepts messages from each archive rule, and from no other.
    const [, policy] = resources('AWS::SQS::QueuePolicy').find(([, p]) =>
      JSON.stringify(p.Properties.Queues).includes(logicalId(s.stack.archive.ruleDeadLetterQueue)),
    ) as [string, Resource];
    const statement = policy.Properties.PolicyDocument.Statement.find(
      (st: any) => st.Sid === 'AllowArchiveRuleDeadLetters',
    );
    expect(statement.Condition.ArnEquals['aws:SourceArn']).toEqual(
      s.stack.archive.rules.map((rule) => ({ 'Fn::GetAtt': [logicalId(rule), 'Arn'] })),
    );
  });

  it('converts to Parquet against the Glue table and partitions by dt and hour, errors apart', () => {
    s.template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      DeliveryStreamEncryptionConfigurationInput: { KeyType: 'AWS_OWNED_CMK' },
      ExtendedS3DestinationConfiguration: Match.objectLike({
        Prefix: 'events/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/',
        ErrorOutputPrefix: 'errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/',
        BufferingHints: {
          IntervalInSeconds: dev.archive.bufferingIntervalSeconds,
          SizeInMBs: dev.archive.bufferingSizeMiB,
        },
        DataFormatConversionConfiguration: Match.objectLike({
          Enabled: true,
          OutputFormatConfiguration: { Serializer: { ParquetSerDe: Match.anyValue() } },
          SchemaConfiguration: Match.objectLike({
            TableName: Match.anyValue(),
            DatabaseName: Match.anyValue(),
          }),
        }),
      }),
    });
  });

  it('defines the Glue table with partition projection, so no crawler or MSCK REPAIR is needed', () => {
    s.template.resourceCountIs('AWS::Glue::Crawler', 0);
    s.template.hasResourceProperties('AWS::Glue::Table', {
      TableInput: Match.objectLike({
        Name: ARCHIVE_TABLE_NAME,
        PartitionKeys: [Match.objectLike({ Name: 'dt' }), Match.objectLike({ Name: 'hour' })],
        Parameters: Match.objectLike({
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.hour.type': 'integer',
          'projection.hour.digits': '2',
          'storage.location.template': Match.anyValue(),
        }),
        StorageDescriptor: Match.objectLike({
          Columns: ARCHIVE_COLUMNS.map((c) => ({ Name: c.name, Type: c.type, Comment: c.comment })),
          SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        }),
      }),
    });
  });

  it('runs Athena in a workgroup with enforced settings, a results location and a scan limit', () => {
    s.template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'inferbus-dev',
      WorkGroupConfiguration: Match.objectLike({
        EnforceWorkGroupConfiguration: true,
        BytesScannedCutoffPerQuery: dev.archive.athenaBytesScannedCutoffPerQuery,
        ResultConfiguration: Match.objectLike({ EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } }),
      }),
    });
    const results = s.template.toJSON().Resources[logicalId(s.stack.archive.resultsBucket)];
    expect(results.Properties.LifecycleConfiguration.Rules[0].ExpirationInDays).toBe(
      dev.archive.athenaResultsRetentionDays,
    );
  });

  it('publishes every named query with its SQL, unchanged', () => {
    s.template.resourceCountIs('AWS::Athena::NamedQuery', NAMED_QUERIES.length);
    for (const query of NAMED_QUERIES) {
      s.template.hasResourceProperties('AWS::Athena::NamedQuery', {
        Name: query.name,
        Database: 'inferbus_dev',
        QueryString: query.sql,
      });
    }
  });
});

describe('observability', () => {
  it('alarms on every DLQ as soon as one message is visible', () => {
    const dlqs = [
      ...allTiers(s.stack).flatMap((t) => t.lanes.flatMap((l) => [l.deadLetterQueue, l.ruleDeadLetterQueue])),
      s.stack.archive.ruleDeadLetterQueue,
      s.stack.unrouted.queue,
      s.stack.unrouted.ruleDeadLetterQueue,
    ];
    for (const dlq of dlqs) {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(dlq), 'QueueName'] } }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: [{ Ref: logicalId(s.stack.observability.topic) }],
      });
    }
  });

  it('alarms on queue age, function errors and throttles, and archive delivery', () => {
    s.template.resourcePropertiesCountIs(
      'AWS::CloudWatch::Alarm',
      { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: dev.alarms.maxQueueAgeSeconds },
      tenants.length * devTiers.length,
    );
    s.template.resourcePropertiesCountIs(
      'AWS::CloudWatch::Alarm',
      { MetricName: 'Errors', Namespace: 'AWS/Lambda' },
      devTiers.length,
    );
    s.template.resourcePropertiesCountIs(
      'AWS::CloudWatch::Alarm',
      { MetricName: 'Throttles', Namespace: 'AWS/Lambda' },
      devTiers.length,
    );
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'DeliveryToS3.Success',
      Namespace: 'AWS/Firehose',
      ComparisonOperator: 'LessThanThreshold',
    });
  });

  it('alarms on the first archive record Firehose cannot convert to Parquet', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'FailedConversion.Records',
      Namespace: 'AWS/Firehose',
      Dimensions: [{ Name: 'DeliveryStreamName', Value: { Ref: logicalId(s.stack.archive.deliveryStream) } }],
      Statistic: 'Sum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: logicalId(s.stack.observability.topic) }],
    });
  });

  it('sends alarms to an encrypted topic and keeps one dashboard per stage', () => {
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    s.template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'inferbus-dev' });
  });
});
