import type { BucketModel, QueueModel } from '../model.js';
import type { ExtractContext } from './context.js';
import { at, TemplateError } from './errors.js';
import { isRecord } from './template.js';

export const DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30;
export const DEFAULT_MESSAGE_RETENTION_SECONDS = 345_600;

export function extractQueues(ctx: ExtractContext): QueueModel[] {
  return ctx.resources('AWS::SQS::Queue').map(([logicalId, resource]) => {
    const name = ctx.resolver.names.physicalName(logicalId);
    let redrive = ctx.prop(logicalId, resource, 'RedrivePolicy');
    if (typeof redrive === 'string') redrive = JSON.parse(redrive);
    let redriveModel: QueueModel['redrive'];
    if (redrive !== undefined) {
      const arn = isRecord(redrive) ? redrive.deadLetterTargetArn : undefined;
      const max = isRecord(redrive) ? Number(redrive.maxReceiveCount) : Number.NaN;
      if (typeof arn !== 'string' || !Number.isInteger(max) || max < 1) {
        throw new TemplateError(
          `${at(logicalId, 'Properties.RedrivePolicy')} needs deadLetterTargetArn and a positive maxReceiveCount.`,
        );
      }
      redriveModel = { deadLetterTargetArn: arn, maxReceiveCount: max };
    }
    return {
      logicalId,
      name,
      arn: ctx.resolver.names.arn(logicalId, logicalId),
      url: ctx.resolver.names.queueUrl(name),
      visibilityTimeoutSeconds: ctx.number(
        logicalId,
        resource,
        'VisibilityTimeout',
        DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
      ),
      messageRetentionSeconds: ctx.number(
        logicalId,
        resource,
        'MessageRetentionPeriod',
        DEFAULT_MESSAGE_RETENTION_SECONDS,
      ),
      ...(redriveModel && { redrive: redriveModel }),
      // SQS encrypts new queues with SQS-owned keys unless told otherwise or given a KMS key.
      sqsManagedSseEnabled: ctx.boolean(
        logicalId,
        resource,
        'SqsManagedSseEnabled',
        ctx.prop(logicalId, resource, 'KmsMasterKeyId') === undefined,
      ),
    };
  });
}

export function extractBuckets(ctx: ExtractContext): BucketModel[] {
  return ctx.resources('AWS::S3::Bucket').map(([logicalId]) => ({
    logicalId,
    name: ctx.resolver.names.physicalName(logicalId),
  }));
}
