/**
 * The AWS calls a handler makes, declared beside it (functions/<name>/calls.ts) so that
 * `inferbus preflight` can check each one against the function's role before `cdk deploy`.
 * Resources are named by what the function knows at run time (an environment variable, the queues
 * its event source mappings read), so preflight binds them to the ARNs of one synthesized stack.
 */
export type DeclaredService = 'sqs' | 'events' | 'dynamodb' | 's3' | 'firehose';

export type DeclaredResource =
  /** The event bus named by an environment variable. */
  | { readonly kind: 'bus'; readonly env: string }
  /** The DLQ of every queue the function's event source mappings read (`<queue>-dlq`). */
  | { readonly kind: 'work-queue-dlqs' }
  /** Every queue the function's event source mappings read. */
  | { readonly kind: 'work-queues' }
  /** The DynamoDB table named by an environment variable. */
  | { readonly kind: 'table'; readonly env: string }
  /** The Firehose delivery stream named by an environment variable. */
  | { readonly kind: 'delivery-stream'; readonly env: string }
  /** Any object of the bucket named by an environment variable. */
  | { readonly kind: 'bucket-objects'; readonly env: string };

export interface DeclaredCall {
  readonly service: DeclaredService;
  /** The API operation, as the SDK's command class names it without `Command` (`SendMessageBatch`). */
  readonly operation: string;
  readonly resource: DeclaredResource;
  /** The call is made only when this environment variable is set (e.g. tier 1's tenant-state table). */
  readonly onlyWhenEnv?: string;
  /** PutEvents entries: each `Source`/`DetailType` the handler publishes (policies may test them). */
  readonly entries?: readonly { readonly source: string; readonly detailType: string }[];
  /** Why the handler makes it: shown next to a denied call. */
  readonly purpose: string;
}

export interface HandlerCalls {
  /** The handler module, relative to the project root (what the declaration describes). */
  readonly handler: string;
  readonly calls: readonly DeclaredCall[];
}
