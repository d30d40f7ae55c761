import type { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export interface TenantStateTableProps {
  /** `DESTROY` for dev stages, `RETAIN` for prod (from the stage configuration). */
  readonly removalPolicy: RemovalPolicy;
  /**
   * Attribute holding each item's expiry in epoch seconds (DynamoDB TTL). Handlers also treat an
   * item past it as gone, since TTL deletes late and the local server has no TTL.
   * @default 'expiresAt'
   */
  readonly timeToLiveAttribute?: string;
}

/**
 * The actions the handlers need: consistent reads of single items and of a batch's tenants and
 * streams at once (BatchGetItem, authorized by its own action), and conditional puts of whole items.
 * `test/infra/tenant-state-grants.test.ts` records the calls the real client makes against them.
 */
export const TENANT_STATE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:PutItem',
] as const;

/**
 * Shared tenant state: one token bucket per tenant (quota) and the sequence state of each
 * (tenant, stream) (ordering), updated by every concurrent execution with optimistic conditional
 * writes. On-demand billing, point-in-time recovery, encrypted at rest with the AWS-owned key,
 * TTL on `expiresAt`. Partition key `pk` (string), no sort key, no indexes.
 */
export class TenantStateTable extends Construct {
  public readonly table: dynamodb.Table;
  public readonly timeToLiveAttribute: string;

  constructor(scope: Construct, id: string, props: TenantStateTableProps) {
    super(scope, id);
    this.timeToLiveAttribute = props.timeToLiveAttribute ?? 'expiresAt';
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: this.timeToLiveAttribute,
      removalPolicy: props.removalPolicy,
    });
  }

  /** Lets `grantee` read and conditionally write items of this table, and nothing else. */
  grantStateAccess(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: [...TENANT_STATE_ACTIONS],
      resourceArns: [this.table.tableArn],
    });
  }
}
