import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';

/**
 * Tier-2 inference. Placeholder until the handlers land (issue 3): it fails every batch, so
 * SQS retries and then moves each message to the tier's DLQ; nothing is dropped.
 */
async function tier2(event: SQSEvent): Promise<SQSBatchResponse> {
  throw new Error(`tier-2 inference is not implemented yet; ${event.Records.length} records left for retry`);
}

export const handler = middy(tier2);
