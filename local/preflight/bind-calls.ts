import type { DeclaredCall, HandlerCalls } from '../../functions/core/declared-calls';
import { deadLetterQueueName, parseQueueArn } from '../../functions/core/queue-names';
import { TIER1_CALLS } from '../../functions/tier1/calls';
import { TIER2_CALLS } from '../../functions/tier2/calls';
import { type AccessRequest, accessRequestsOf, s3AccessRequests } from '../iam/actions';
import type { FunctionModel, TemplateModel } from '../model';

/**
 * Each tier handler's declaration, by the function's INFERBUS_TIER (the tier handlers are the
 * project's functions): a task's entry tier runs functions/tier1, every later tier functions/tier2.
 */
export function declarationOf(fn: FunctionModel): HandlerCalls | undefined {
  const tier = fn.environment.INFERBUS_TIER;
  if (tier === undefined || !/^[1-9]$/.test(tier)) return undefined;
  return tier === '1' ? TIER1_CALLS : TIER2_CALLS;
}

/** One declared call bound to one resource of the template: the access requests IAM decides it by. */
export interface BoundCall {
  readonly call: DeclaredCall;
  /** The ARN the call is made on (a queue, the bus, a table, `bucket/*`). */
  readonly resource: string;
  readonly requests: readonly AccessRequest[];
}

export type Binding = { readonly bound: readonly BoundCall[] } | { readonly problem: string };

const S3_METHODS: Record<string, string> = {
  GetObject: 'GET',
  HeadObject: 'HEAD',
  PutObject: 'PUT',
  DeleteObject: 'DELETE',
};

/**
 * Binds a declared call to the template: environment variables to names, the function's event
 * source mappings to queue ARNs, and each resulting call to its IAM action, resource and context
 * through the local IAM's action table (the same mapping the endpoints authorize by).
 */
export function bindCall(call: DeclaredCall, fn: FunctionModel, model: TemplateModel): Binding {
  const place = { account: model.account, region: model.region };
  const envValue = (name: string) => fn.environment[name];
  const target = call.resource;
  switch (target.kind) {
    case 'bus': {
      const bus = envValue(target.env);
      if (!bus)
        return { problem: `${target.env} is not set in its environment, so it has no bus to publish to` };
      const entries = call.entries?.length ? call.entries : [{ source: '', detailType: '' }];
      const requests = accessRequestsOf(
        'events',
        call.operation,
        { Entries: entries.map((e) => ({ EventBusName: bus, Source: e.source, DetailType: e.detailType })) },
        place,
      );
      return { bound: [{ call, resource: requests[0]?.resource ?? bus, requests }] };
    }
    case 'work-queues':
    case 'work-queue-dlqs': {
      const queues = model.eventSourceMappings
        .filter((m) => m.functionLogicalId === fn.logicalId)
        .map((m) => m.queueArn);
      if (queues.length === 0)
        return { problem: 'no event source mapping feeds it, so it has no work queue' };
      const bound: BoundCall[] = [];
      for (const queue of queues) {
        let arn = queue;
        if (target.kind === 'work-queue-dlqs') {
          const parsed = parseQueueArn(queue);
          if (!parsed) return { problem: `${queue} is not an SQS queue ARN` };
          arn = `arn:aws:sqs:${parsed.region}:${parsed.account}:${deadLetterQueueName(parsed.name)}`;
          if (!model.queues.some((q) => q.arn === arn)) {
            return {
              problem: `it sends dead letters of ${parsed.name} to ${deadLetterQueueName(parsed.name)}, which the template does not create (the DLQ must be named <work queue>-dlq)`,
            };
          }
        }
        bound.push({
          call,
          resource: arn,
          requests: accessRequestsOf('sqs', call.operation, { QueueUrl: arn }, place),
        });
      }
      return { bound };
    }
    case 'table': {
      const table = envValue(target.env);
      if (!table) return { problem: `${target.env} is not set in its environment` };
      const input = call.operation.startsWith('Batch')
        ? { RequestItems: { [table]: {} } }
        : { TableName: table };
      const requests = accessRequestsOf('dynamodb', call.operation, input, place);
      return { bound: [{ call, resource: requests[0]?.resource ?? table, requests }] };
    }
    case 'bucket-objects': {
      const bucket = envValue(target.env);
      if (!bucket) return { problem: `${target.env} is not set in its environment` };
      const method = S3_METHODS[call.operation];
      if (!method) return { problem: `preflight does not know S3 ${call.operation}: add it to S3_METHODS` };
      // Any key: the policy must cover the whole bucket's objects, as the handler reads whatever key a claim names.
      const requests = s3AccessRequests({ method, path: `/${bucket}/*`, query: new URLSearchParams() });
      return { bound: [{ call, resource: requests[0]?.resource ?? bucket, requests }] };
    }
  }
}
