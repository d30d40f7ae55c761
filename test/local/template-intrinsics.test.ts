// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these are CloudFormation Fn::Sub strings
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildTemplateModel,
  type CfnTemplate,
  IntrinsicResolver,
  type LocalEnvironment,
  loadTemplateModel,
  TemplateError,
} from '../../local/template';

const env: LocalEnvironment = {
  stackName: 'demo',
  region: 'eu-west-1',
  account: '000000000000',
  endpoint: 'http://127.0.0.1:4566',
};

const template: CfnTemplate = {
  Parameters: { Stage: { Type: 'String', Default: 'dev' } },
  Conditions: {
    IsDev: { 'Fn::Equals': [{ Ref: 'Stage' }, 'dev'] },
    IsProd: { 'Fn::Not': [{ Condition: 'IsDev' }] },
  },
  Mappings: { Sizes: { dev: { Memory: 256 } } },
  Resources: {
    Queue: { Type: 'AWS::SQS::Queue' },
    Named: { Type: 'AWS::SQS::Queue', Properties: { QueueName: { 'Fn::Sub': '${AWS::StackName}-named' } } },
    Fifo: { Type: 'AWS::SQS::Queue', Properties: { FifoQueue: true } },
    Bucket: { Type: 'AWS::S3::Bucket' },
    Bus: { Type: 'AWS::Events::EventBus', Properties: { Name: 'my-bus' } },
    Fn: { Type: 'AWS::Lambda::Function', Properties: { Handler: 'index.handler' } },
    Alias: { Type: 'AWS::Lambda::Alias', Properties: { FunctionName: { Ref: 'Fn' }, Name: 'live' } },
    Layer: { Type: 'AWS::Lambda::LayerVersion' },
    Stream: { Type: 'AWS::KinesisFirehose::DeliveryStream' },
    Logs: { Type: 'AWS::Logs::LogGroup' },
    Db: { Type: 'AWS::Glue::Database', Properties: { DatabaseInput: { Name: 'archive_db' } } },
    Table: { Type: 'AWS::Glue::Table', Properties: { TableInput: { Name: 'events' } } },
    Wg: { Type: 'AWS::Athena::WorkGroup', Properties: { Name: 'wg' } },
    Key: { Type: 'AWS::KMS::Key' },
    Topic: { Type: 'AWS::SNS::Topic' },
    Role: { Type: 'AWS::IAM::Role' },
    ProdOnly: { Type: 'AWS::SQS::Queue', Condition: 'IsProd' },
  },
};

const resolver = () => new IntrinsicResolver(template, env);
const r = (value: unknown) => resolver().resolve(value, 'Test', 'Properties.Value');

describe('intrinsic resolver', () => {
  it('answers Ref per resource type as CloudFormation does', () => {
    expect(r({ Ref: 'Queue' })).toBe('http://127.0.0.1:4566/000000000000/demo-Queue');
    expect(r({ Ref: 'Named' })).toBe('http://127.0.0.1:4566/000000000000/demo-named');
    expect(r({ Ref: 'Fifo' })).toBe('http://127.0.0.1:4566/000000000000/demo-Fifo.fifo');
    expect(r({ Ref: 'Bucket' })).toBe('demo-bucket');
    expect(r({ Ref: 'Bus' })).toBe('my-bus');
    expect(r({ Ref: 'Fn' })).toBe('demo-Fn');
    expect(r({ Ref: 'Alias' })).toBe('arn:aws:lambda:eu-west-1:000000000000:function:demo-Fn:live');
    expect(r({ Ref: 'Layer' })).toBe('arn:aws:lambda:eu-west-1:000000000000:layer:demo-Layer:1');
    expect(r({ Ref: 'Stream' })).toBe('demo-Stream');
    expect(r({ Ref: 'Logs' })).toBe('demo-Logs');
    expect(r({ Ref: 'Db' })).toBe('archive_db');
    expect(r({ Ref: 'Table' })).toBe('events');
    expect(r({ Ref: 'Wg' })).toBe('wg');
    expect(r({ Ref: 'Key' })).toMatch(/^[0-9a-f-]{36}$/);
    expect(r({ Ref: 'Topic' })).toBe('arn:aws:sns:eu-west-1:000000000000:demo-Topic');
    expect(r({ Ref: 'Role' })).toBe('demo-Role');
    expect(r({ Ref: 'Stage' })).toBe('dev');
  });

  it('answers pseudo parameters, and drops AWS::NoValue', () => {
    expect(
      r({
        'Fn::Join': [
          '|',
          [
            { Ref: 'AWS::AccountId' },
            { Ref: 'AWS::Region' },
            { Ref: 'AWS::Partition' },
            { Ref: 'AWS::URLSuffix' },
            { Ref: 'AWS::StackName' },
          ],
        ],
      }),
    ).toBe('000000000000|eu-west-1|aws|amazonaws.com|demo');
    expect(r({ a: 1, b: { Ref: 'AWS::NoValue' }, c: [1, { Ref: 'AWS::NoValue' }, 2] })).toEqual({
      a: 1,
      c: [1, 2],
    });
  });

  it('answers Fn::GetAtt in both forms', () => {
    expect(r({ 'Fn::GetAtt': ['Queue', 'Arn'] })).toBe('arn:aws:sqs:eu-west-1:000000000000:demo-Queue');
    expect(r({ 'Fn::GetAtt': 'Queue.QueueName' })).toBe('demo-Queue');
    expect(r({ 'Fn::GetAtt': ['Queue', 'QueueUrl'] })).toBe('http://127.0.0.1:4566/000000000000/demo-Queue');
    expect(r({ 'Fn::GetAtt': ['Bucket', 'Arn'] })).toBe('arn:aws:s3:::demo-bucket');
    expect(r({ 'Fn::GetAtt': ['Bucket', 'DomainName'] })).toBe('demo-bucket.s3.amazonaws.com');
    expect(r({ 'Fn::GetAtt': ['Bus', 'Arn'] })).toBe(
      'arn:aws:events:eu-west-1:000000000000:event-bus/my-bus',
    );
    expect(r({ 'Fn::GetAtt': ['Stream', 'Arn'] })).toBe(
      'arn:aws:firehose:eu-west-1:000000000000:deliverystream/demo-Stream',
    );
    expect(r({ 'Fn::GetAtt': ['Role', 'Arn'] })).toBe('arn:aws:iam::000000000000:role/demo-Role');
    expect(r({ 'Fn::GetAtt': ['Topic', 'TopicName'] })).toBe('demo-Topic');
  });

  it('evaluates Fn::Sub (both forms), Fn::Join, Fn::Select, Fn::Split, Fn::If and Fn::FindInMap', () => {
    expect(r({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${Bucket}/${Queue.QueueName}/${!Literal}' })).toBe(
      'arn:aws:s3:::demo-bucket/demo-Queue/${Literal}',
    );
    expect(r({ 'Fn::Sub': ['${Greeting}, ${AWS::Region}', { Greeting: { Ref: 'Bus' } }] })).toBe(
      'my-bus, eu-west-1',
    );
    // The shape CDK synthesizes for an ESM that points at an alias.
    expect(
      r({ 'Fn::Join': ['', [{ 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: 'Alias' }] }] }, ':live']] }),
    ).toBe('demo-Fn:live');
    expect(r({ 'Fn::If': ['IsDev', 'small', 'large'] })).toBe('small');
    expect(r({ 'Fn::If': ['IsProd', 'x', { Ref: 'AWS::NoValue' }] })).toBeUndefined();
    expect(r({ 'Fn::FindInMap': ['Sizes', { Ref: 'Stage' }, 'Memory'] })).toBe(256);
  });

  it('fails with the resource, the property and what to do', () => {
    expect(() => r({ 'Fn::ImportValue': 'shared-bus' })).toThrow(
      /Test\.Properties\.Value: Fn::ImportValue .*another stack/,
    );
    expect(() => r({ 'Fn::Bogus': 1 })).toThrow(
      /Test\.Properties\.Value: Fn::Bogus is not an intrinsic function/,
    );
    expect(() => r({ Ref: 'Missing' })).toThrow(
      /Test\.Properties\.Value refers to Missing, which is not a resource of stack demo/,
    );
    expect(() => r({ 'Fn::GetAtt': ['Queue', 'Nope'] })).toThrow(/Fn::GetAtt Queue\.Nope .* not supported/);
    expect(() => r({ 'Fn::Select': [5, ['a']] })).toThrow(/index 5 is out of range/);
    expect(() => r({ 'Fn::If': ['Unknown', 1, 2] })).toThrow(/condition Unknown is not defined/);
    expect(() => r({ 'Fn::ImportValue': 'x' })).toThrow(TemplateError);
  });
});

describe('model extraction from a hand-written template', () => {
  const assets = mkdtempSync(join(tmpdir(), 'inferbus-assets-'));
  mkdirSync(join(assets, 'asset.fn'));
  mkdirSync(join(assets, 'asset.layer'));
  const handWritten: CfnTemplate = {
    Resources: {
      Bus: { Type: 'AWS::Events::EventBus', Properties: { Name: 'b' } },
      Dlq: { Type: 'AWS::SQS::Queue' },
      Work: {
        Type: 'AWS::SQS::Queue',
        Properties: {
          RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['Dlq', 'Arn'] }, maxReceiveCount: '5' },
        },
      },
      Rule: {
        Type: 'AWS::Events::Rule',
        Properties: {
          EventBusName: { 'Fn::GetAtt': ['Bus', 'Arn'] },
          EventPattern: '{"source":["a"]}',
          State: 'DISABLED',
          Targets: [{ Id: 'T', Arn: { 'Fn::GetAtt': ['Work', 'Arn'] }, InputPath: '$.detail' }],
        },
      },
      Scheduled: { Type: 'AWS::Events::Rule', Properties: { ScheduleExpression: 'rate(1 minute)' } },
      Layer: { Type: 'AWS::Lambda::LayerVersion', Metadata: { 'aws:asset:path': 'asset.layer' } },
      Fn: {
        Type: 'AWS::Lambda::Function',
        Properties: {
          Handler: 'main.run',
          Runtime: 'nodejs22.x',
          Layers: [{ Ref: 'Layer' }],
          Environment: { Variables: { QUEUE: { Ref: 'Work' }, LIST: ['a', { Ref: 'Bus' }], COUNT: 3 } },
        },
        Metadata: { 'aws:asset:path': 'asset.fn' },
      },
      Esm: {
        Type: 'AWS::Lambda::EventSourceMapping',
        Properties: { EventSourceArn: { 'Fn::GetAtt': ['Work', 'Arn'] }, FunctionName: { Ref: 'Fn' } },
      },
    },
  };

  it('applies the defaults and resolves what the runtime reads', () => {
    const model = buildTemplateModel(handWritten, env, assets);
    expect(model.rules).toHaveLength(1);
    expect(model.rules[0]).toMatchObject({
      eventBusName: 'b',
      enabled: false,
      eventPattern: { source: ['a'] },
    });
    expect(model.rules[0]?.targets[0]).toEqual({
      id: 'T',
      arn: 'arn:aws:sqs:eu-west-1:000000000000:demo-Work',
      inputPath: '$.detail',
    });
    const work = model.queues.find((q) => q.logicalId === 'Work');
    expect(work).toMatchObject({
      visibilityTimeoutSeconds: 30,
      messageRetentionSeconds: 345600,
      redrive: { maxReceiveCount: 5 },
    });
    const fn = model.functions[0];
    expect(fn).toMatchObject({
      handler: 'main.run',
      timeoutSeconds: 3,
      memoryMiB: 128,
      assetDir: join(assets, 'asset.fn'),
    });
    expect(fn?.layerDirs).toEqual([join(assets, 'asset.layer')]);
    expect(fn?.environment).toEqual({
      QUEUE: 'http://127.0.0.1:4566/000000000000/demo-Work',
      LIST: '["a","b"]',
      COUNT: '3',
    });
    expect(model.eventSourceMappings[0]).toMatchObject({
      functionLogicalId: 'Fn',
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      reportBatchItemFailures: false,
      enabled: true,
    });
    expect(model.eventSourceMappings[0]?.aliasName).toBeUndefined();
  });

  it('names the function whose code is not in cdk.out', () => {
    const noAsset: CfnTemplate = { Resources: { Fn: { Type: 'AWS::Lambda::Function', Properties: {} } } };
    expect(() => buildTemplateModel(noAsset, env, assets)).toThrow(
      /Fn \(AWS::Lambda::Function\) has no aws:asset:path/,
    );
  });

  it('lists the stacks when several are synthesized and none is named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferbus-cdkout-'));
    const stack = (name: string) => ({
      type: 'aws:cloudformation:stack',
      environment: 'aws://unknown-account/unknown-region',
      properties: { templateFile: `${name}.template.json` },
    });
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify({ artifacts: { one: stack('one'), two: stack('two') } }),
    );
    writeFileSync(join(dir, 'one.template.json'), JSON.stringify({ Resources: {} }));
    expect(() => loadTemplateModel(dir, undefined, { endpoint: env.endpoint })).toThrow(
      /several stacks \(one, two\)/,
    );
    expect(() => loadTemplateModel(dir, 'three', { endpoint: env.endpoint })).toThrow(/it has: one, two/);
    expect(loadTemplateModel(dir, 'one', { endpoint: env.endpoint }).region).toBe('us-east-1');
  });
});
