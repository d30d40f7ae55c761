import { createHash } from 'node:crypto';
import { TemplateError } from './errors.js';
import type { CfnResource, CfnTemplate } from './template.js';
import { isRecord } from './template.js';

/** Where the stack "lives" locally; see local/model.ts for the naming rules. */
export interface LocalEnvironment {
  readonly stackName: string;
  readonly region: string;
  readonly account: string;
  /** Base URL of the local endpoints, e.g. `http://127.0.0.1:4566`; queue URLs hang off it. */
  readonly endpoint: string;
}

export const PARTITION = 'aws';
export const URL_SUFFIX = 'amazonaws.com';

/** Resolves a name property that may itself hold intrinsics. */
export type NameResolver = (value: unknown, logicalId: string, property: string) => string;

/** The property that names a resource, when the template sets it. */
const NAME_PROPERTY: Record<string, (p: Record<string, unknown>) => [string, unknown]> = {
  'AWS::SQS::Queue': (p) => ['QueueName', p.QueueName],
  'AWS::S3::Bucket': (p) => ['BucketName', p.BucketName],
  'AWS::Events::EventBus': (p) => ['Name', p.Name],
  'AWS::Events::Rule': (p) => ['Name', p.Name],
  'AWS::Lambda::Function': (p) => ['FunctionName', p.FunctionName],
  'AWS::Lambda::LayerVersion': (p) => ['LayerName', p.LayerName],
  'AWS::Lambda::Alias': (p) => ['Name', p.Name],
  'AWS::KinesisFirehose::DeliveryStream': (p) => ['DeliveryStreamName', p.DeliveryStreamName],
  'AWS::Logs::LogGroup': (p) => ['LogGroupName', p.LogGroupName],
  'AWS::Logs::LogStream': (p) => ['LogStreamName', p.LogStreamName],
  'AWS::Glue::Database': (p) => [
    'DatabaseInput.Name',
    isRecord(p.DatabaseInput) ? p.DatabaseInput.Name : undefined,
  ],
  'AWS::Glue::Table': (p) => ['TableInput.Name', isRecord(p.TableInput) ? p.TableInput.Name : undefined],
  'AWS::Athena::WorkGroup': (p) => ['Name', p.Name],
  'AWS::Athena::NamedQuery': (p) => ['Name', p.Name],
  'AWS::SNS::Topic': (p) => ['TopicName', p.TopicName],
  'AWS::IAM::Role': (p) => ['RoleName', p.RoleName],
  'AWS::DynamoDB::Table': (p) => ['TableName', p.TableName],
};

/** A UUID-shaped id that stays the same for the same stack and logical id (named queries, KMS keys). */
export function stableUuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  const variant = ((Number.parseInt(h[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Local physical names, ARNs and the values `Ref` and `Fn::GetAtt` return, per resource type, as
 * CloudFormation documents them for each type.
 */
export class ResourceNames {
  private readonly names = new Map<string, string>();
  private readonly resolving = new Set<string>();

  constructor(
    private readonly template: CfnTemplate,
    private readonly env: LocalEnvironment,
    private readonly resolveName: NameResolver,
  ) {}

  resource(logicalId: string, where: string): CfnResource {
    const resource = this.template.Resources[logicalId];
    if (!resource) {
      throw new TemplateError(
        `${where} refers to ${logicalId}, which is not a resource of stack ${this.env.stackName}.`,
      );
    }
    return resource;
  }

  physicalName(logicalId: string): string {
    const known = this.names.get(logicalId);
    if (known !== undefined) return known;
    const resource = this.resource(logicalId, logicalId);
    if (this.resolving.has(logicalId)) {
      throw new TemplateError(
        `${logicalId}'s name refers back to itself; CloudFormation would reject this template.`,
      );
    }
    this.resolving.add(logicalId);
    try {
      const name = this.computeName(logicalId, resource);
      this.names.set(logicalId, name);
      return name;
    } finally {
      this.resolving.delete(logicalId);
    }
  }

  private computeName(logicalId: string, resource: CfnResource): string {
    const props = resource.Properties ?? {};
    const pick = NAME_PROPERTY[resource.Type]?.(props);
    if (pick && pick[1] !== undefined) return this.resolveName(pick[1], logicalId, `Properties.${pick[0]}`);
    const base = `${this.env.stackName}-${logicalId}`;
    if (resource.Type === 'AWS::S3::Bucket') return base.toLowerCase();
    if (resource.Type === 'AWS::SQS::Queue' && (props.FifoQueue === true || props.FifoQueue === 'true')) {
      return `${base}.fifo`;
    }
    if (resource.Type === 'AWS::Glue::Database' || resource.Type === 'AWS::Glue::Table') {
      return base.toLowerCase().replaceAll('-', '_');
    }
    return base;
  }

  private arnPrefix(service: string): string {
    return `arn:${PARTITION}:${service}:${this.env.region}:${this.env.account}`;
  }

  queueUrl(name: string): string {
    return `${this.env.endpoint.replace(/\/+$/, '')}/${this.env.account}/${name}`;
  }

  /** Bus name a rule is attached to: its EventBusName (a name or an ARN), else `default`. */
  busNameOf(value: string | undefined): string {
    if (!value) return 'default';
    const arn = /^arn:[^:]+:events:[^:]*:[^:]*:event-bus\/(.+)$/.exec(value);
    return arn ? (arn[1] as string) : value;
  }

  ruleArn(name: string, busName: string): string {
    return busName === 'default'
      ? `${this.arnPrefix('events')}:rule/${name}`
      : `${this.arnPrefix('events')}:rule/${busName}/${name}`;
  }

  functionArn(name: string): string {
    return `${this.arnPrefix('lambda')}:function:${name}`;
  }

  /** The resource's ARN, for the types that have one here. */
  arn(logicalId: string, where: string): string {
    const resource = this.resource(logicalId, where);
    const name = () => this.physicalName(logicalId);
    const p = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::SQS::Queue':
        return `${this.arnPrefix('sqs')}:${name()}`;
      case 'AWS::S3::Bucket':
        return `arn:${PARTITION}:s3:::${name()}`;
      case 'AWS::Events::EventBus':
        return `${this.arnPrefix('events')}:event-bus/${name()}`;
      case 'AWS::Events::Rule': {
        const bus =
          p.EventBusName === undefined
            ? undefined
            : this.resolveName(p.EventBusName, logicalId, 'Properties.EventBusName');
        return this.ruleArn(name(), this.busNameOf(bus));
      }
      case 'AWS::Lambda::Function':
        return this.functionArn(name());
      case 'AWS::Lambda::Alias':
        return `${this.functionArn(this.resolveName(p.FunctionName, logicalId, 'Properties.FunctionName').split(':').at(-1) as string)}:${name()}`;
      case 'AWS::Lambda::Version':
        return `${this.functionArn(this.resolveName(p.FunctionName, logicalId, 'Properties.FunctionName').split(':').at(-1) as string)}:1`;
      case 'AWS::Lambda::LayerVersion':
        return `${this.arnPrefix('lambda')}:layer:${name()}:1`;
      case 'AWS::KinesisFirehose::DeliveryStream':
        return `${this.arnPrefix('firehose')}:deliverystream/${name()}`;
      case 'AWS::Logs::LogGroup':
        return `${this.arnPrefix('logs')}:log-group:${name()}:*`;
      case 'AWS::Glue::Database':
        return `${this.arnPrefix('glue')}:database/${name()}`;
      case 'AWS::Athena::WorkGroup':
        return `${this.arnPrefix('athena')}:workgroup/${name()}`;
      case 'AWS::KMS::Key':
        return `${this.arnPrefix('kms')}:key/${stableUuid(`${this.env.stackName}/${logicalId}`)}`;
      case 'AWS::SNS::Topic':
        return `${this.arnPrefix('sns')}:${name()}`;
      case 'AWS::IAM::Role':
        return `arn:${PARTITION}:iam::${this.env.account}:role/${name()}`;
      case 'AWS::IAM::ManagedPolicy':
        return `arn:${PARTITION}:iam::${this.env.account}:policy/${name()}`;
      case 'AWS::DynamoDB::Table':
        return `${this.arnPrefix('dynamodb')}:table/${name()}`;
      default:
        throw new TemplateError(
          `${where}: the local runtime does not know the ARN format of ${resource.Type} (${logicalId}).`,
        );
    }
  }

  /** What `{"Ref": logicalId}` returns for this resource type. */
  ref(logicalId: string, where: string): string {
    const resource = this.resource(logicalId, where);
    switch (resource.Type) {
      case 'AWS::SQS::Queue':
        return this.queueUrl(this.physicalName(logicalId));
      case 'AWS::Lambda::Alias':
      case 'AWS::Lambda::Version':
      case 'AWS::Lambda::LayerVersion':
      case 'AWS::SNS::Topic':
      case 'AWS::IAM::ManagedPolicy':
        return this.arn(logicalId, where);
      case 'AWS::KMS::Key':
        return stableUuid(`${this.env.stackName}/${logicalId}`);
      case 'AWS::Athena::NamedQuery':
        return stableUuid(`${this.env.stackName}/${logicalId}`);
      default:
        return this.physicalName(logicalId);
    }
  }

  /** What `{"Fn::GetAtt": [logicalId, attribute]}` returns. */
  getAtt(logicalId: string, attribute: string, where: string): string {
    const resource = this.resource(logicalId, where);
    const type = resource.Type;
    const name = () => this.physicalName(logicalId);
    if (attribute === 'Arn' && type !== 'AWS::SNS::Topic') return this.arn(logicalId, where);
    const key = `${type}.${attribute}`;
    switch (key) {
      case 'AWS::SQS::Queue.QueueName':
        return name();
      case 'AWS::SQS::Queue.QueueUrl':
        return this.queueUrl(name());
      case 'AWS::S3::Bucket.DomainName':
        return `${name()}.s3.${URL_SUFFIX}`;
      case 'AWS::S3::Bucket.RegionalDomainName':
        return `${name()}.s3.${this.env.region}.${URL_SUFFIX}`;
      case 'AWS::S3::Bucket.DualStackDomainName':
        return `${name()}.s3.dualstack.${this.env.region}.${URL_SUFFIX}`;
      case 'AWS::S3::Bucket.WebsiteURL':
        return `http://${name()}.s3-website-${this.env.region}.${URL_SUFFIX}`;
      case 'AWS::Events::EventBus.Name':
        return name();
      case 'AWS::Lambda::Alias.AliasArn':
      case 'AWS::Lambda::Version.FunctionArn':
      case 'AWS::Lambda::LayerVersion.LayerVersionArn':
      case 'AWS::SNS::Topic.TopicArn':
        return this.arn(logicalId, where);
      case 'AWS::Lambda::Version.Version':
        return '1';
      case 'AWS::SNS::Topic.TopicName':
        return name();
      case 'AWS::KMS::Key.KeyId':
      case 'AWS::Athena::NamedQuery.NamedQueryId':
        return this.ref(logicalId, where);
      case 'AWS::IAM::Role.RoleId':
        return `AROA${stableUuid(`${this.env.stackName}/${logicalId}`).replaceAll('-', '').slice(0, 17).toUpperCase()}`;
      case 'AWS::Athena::WorkGroup.Name':
        return name();
    }
    throw new TemplateError(
      `${where}: Fn::GetAtt ${logicalId}.${attribute} (${type}) is not supported by the local runtime; ` +
        'use Ref or Arn, or add the attribute to local/template/names.ts.',
    );
  }
}
