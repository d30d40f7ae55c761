import { Validations } from 'aws-cdk-lib';
import type { InferbusStack } from './inferbus-stack';

/**
 * cdk-nag findings accepted on purpose, each with the reason a reviewer needs. Findings that
 * belong to a construct's nature (a DLQ having no DLQ) are acknowledged in that construct.
 */
export function acknowledgeNagFindings(stack: InferbusStack): void {
  for (const tier of stack.tasks.flatMap((task) => task.tiers)) {
    Validations.of(tier.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x on purpose: the handlers and the onnxruntime-node layer are built and tested ' +
        'for Node 22; moving runtime is a tested change, not an automatic one.',
    });
    Validations.of(tier).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
    });
    Validations.of(tier).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(stack.claimBucket.node.defaultChild as never)}.Arn>/*]`,
      reason:
        'Handlers read claim-checked payloads by the key the event carries; the keys are not known in advance. ' +
        'Only s3:GetObject, only on the claims bucket.',
    });
  }

  const delivery = stack.archive.deliveryStream;
  const archiveBucket = stack.getLogicalId(stack.archive.bucket.node.defaultChild as never);
  const firehoseFindings = {
    'Action::s3:Abort*': 'aborts its own failed multipart uploads',
    'Action::s3:DeleteObject*': 'removes its own partial objects when a delivery is retried',
    'Action::s3:GetBucket*': 'checks the bucket location and encryption before writing',
    'Action::s3:GetObject*': 'reads back objects it is resuming',
    'Action::s3:List*': 'lists its own multipart uploads',
    [`Resource::<${archiveBucket}.Arn>/*`]: 'writes objects with time-based keys, unknown in advance',
    'Resource::*': 'glue:GetSchemaVersion (schema registry lookup of record-format conversion) takes no ARN',
  };
  for (const [finding, why] of Object.entries(firehoseFindings)) {
    Validations.of(delivery).acknowledge({
      id: `AwsSolutions-IAM5[${finding}]`,
      reason: `The CDK-managed Firehose destination role, assumable only by this delivery stream and scoped to the archive bucket, ${why}.`,
    });
  }
}
