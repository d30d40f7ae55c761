/**
 * Messages between the runner and a worker process (`bootstrap.cjs`), sent with `process.send`
 * over the IPC channel (`serialization: 'advanced'`, i.e. structured clone). Events and results
 * travel as JSON text so the handler sees exactly what Lambda's JSON marshalling would give it
 * (no Dates, Maps or undefined slipping through), and a result that is not JSON fails the way
 * Lambda fails it. The one exception: an event the runner knows is plain JSON data already (the
 * SQS events of event source mappings) is sent as is, since cloning it gives the same data as a
 * JSON round trip at a fraction of the cost (no escaping of message bodies that are JSON text).
 */
export interface InitMessage {
  readonly type: 'init';
  /** The asset folder (Lambda's /var/task). */
  readonly taskRoot: string;
  /** `file.export`, as in the template. */
  readonly handler: string;
  /**
   * Folders that play the part of /var/task and /opt: a `.js` file under one of them is loaded as
   * CommonJS unless a package.json inside that folder says otherwise (see bootstrap.cjs).
   */
  readonly lambdaRoots: readonly string[];
}

export interface ContextFields {
  readonly awsRequestId: string;
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
}

export interface InvokeMessage {
  readonly type: 'invoke';
  readonly id: number;
  /** The event as JSON text; or, when the runner knows it is plain JSON data already, `event`. */
  readonly eventJson?: string;
  readonly event?: unknown;
  readonly context: ContextFields;
  /** Epoch milliseconds at which the runner kills the worker. */
  readonly deadlineMs: number;
}

export type ParentMessage = InitMessage | InvokeMessage;

export interface ErrorFields {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly stack?: string;
}

export interface ReadyMessage {
  readonly type: 'ready';
  /** Milliseconds since the worker process started (Node boot + handler module load). */
  readonly sinceProcessStartMs: number;
  /** Milliseconds spent loading the handler module (the function's init code). */
  readonly loadMs: number;
}

export interface InitErrorMessage extends ErrorFields {
  readonly type: 'init-error';
}

export type ResultMessage =
  | {
      readonly type: 'result';
      readonly id: number;
      readonly ok: true;
      readonly payloadJson: string;
      readonly rssBytes: number;
    }
  | ({
      readonly type: 'result';
      readonly id: number;
      readonly ok: false;
      readonly rssBytes: number;
    } & ErrorFields);

export type WorkerMessage = ReadyMessage | InitErrorMessage | ResultMessage;
