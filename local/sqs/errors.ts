import { dirname } from 'node:path';
import { StorageUnavailableError } from '../storage-health.js';

/**
 * Errors of the local SQS, each carrying what the AWS JSON 1.0 (query-compatible) protocol needs:
 * the error shape name (`__type` = `com.amazonaws.sqs#<shape>`), the legacy query error code the SDK
 * reads from `x-amzn-query-error`, the HTTP status and who is at fault.
 */
export class SqsError extends Error {
  override readonly name: string = 'SqsError';

  constructor(
    /** Smithy shape name, e.g. `QueueDoesNotExist`. */
    readonly shape: string,
    /** AWS query error code, e.g. `AWS.SimpleQueueService.NonExistentQueue`. */
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly fault: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(message);
  }
}

export class QueueDoesNotExistError extends SqsError {
  override readonly name = 'QueueDoesNotExistError';

  constructor(readonly queue: string) {
    super(
      'QueueDoesNotExist',
      'AWS.SimpleQueueService.NonExistentQueue',
      `The specified queue does not exist: ${queue}. Local queues come from the synthesized templates: check the name, URL or ARN, or re-synthesize (cdk synth) after adding the queue.`,
    );
  }
}

export const invalidParameter = (message: string) =>
  new SqsError('InvalidParameterValue', 'InvalidParameterValue', message);

export const missingParameter = (name: string) =>
  new SqsError('MissingParameter', 'MissingParameter', `The request must contain the parameter ${name}.`);

export const receiptHandleIsInvalid = (handle: string) =>
  new SqsError(
    'ReceiptHandleIsInvalid',
    'ReceiptHandleIsInvalid',
    `The input receipt handle "${handle}" is not a valid receipt handle. Use the ReceiptHandle returned by ReceiveMessage.`,
    404,
  );

export const messageNotInflight = () =>
  new SqsError(
    'MessageNotInflight',
    'AWS.SimpleQueueService.MessageNotInflight',
    'The message referred to is not in flight: its visibility timeout has already expired. Receive it again to get a new receipt handle.',
  );

export const invalidMessageContents = (message: string) =>
  new SqsError('InvalidMessageContents', 'InvalidMessageContents', message);

export const invalidAttributeName = (message: string) =>
  new SqsError('InvalidAttributeName', 'InvalidAttributeName', message);

export const resourceNotFound = (message: string) =>
  new SqsError('ResourceNotFoundException', 'ResourceNotFoundException', message, 404);

export const unsupportedOperation = (message: string) =>
  new SqsError('UnsupportedOperation', 'AWS.SimpleQueueService.UnsupportedOperation', message);

export const batchError = (
  kind:
    | 'EmptyBatchRequest'
    | 'TooManyEntriesInBatchRequest'
    | 'BatchEntryIdsNotDistinct'
    | 'InvalidBatchEntryId'
    | 'BatchRequestTooLong',
  message: string,
) => new SqsError(kind, `AWS.SimpleQueueService.${kind}`, message);

/**
 * The state log holds something the store cannot read (damage, not a torn tail): names the file,
 * the byte offset and the salvage command. The file is left untouched.
 */
export class SqsStateError extends Error {
  override readonly name = 'SqsStateError';

  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(
      `Local SQS state file ${file} is damaged at byte ${offset}: ${reason}. The runtime left the file as it is. ` +
        `Copy every intact record into a new state folder with \`inferbus local salvage --state-dir ${stateDirOf(file)}\` ` +
        '(it lists what it could not read) and start from that folder, or restore the file from a backup.',
    );
  }
}

/** The state log is gone, though the state folder shows that queues were kept there. */
export class SqsLogMissingError extends Error {
  override readonly name = 'SqsLogMissingError';

  constructor(
    readonly file: string,
    evidence: string,
  ) {
    super(
      `Local SQS state file ${file} is missing, yet ${evidence}: starting would silently lose every queued message. ` +
        `Restore the file from a backup; to start with empty queues on purpose, move ${stateDirOf(file)} away or start with --reset.`,
    );
  }
}

/** The state folder of `<stateDir>/sqs/queues.log`. */
function stateDirOf(file: string): string {
  return dirname(dirname(file));
}

/**
 * A write to the state folder failed (nothing of the request was applied), or the log cannot be
 * read back. The SQS endpoint answers it with HTTP 500 InternalError.
 */
export class SqsStorageError extends StorageUnavailableError {
  override readonly name = 'SqsStorageError';
}
