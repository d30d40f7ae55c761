/** Raised by `LambdaRunner.invoke` for a logical id that is not one of the runner's functions. */
export class UnknownFunctionError extends Error {
  override readonly name = 'UnknownFunctionError';
  readonly code = 'ResourceNotFoundException';

  constructor(logicalId: string, known: readonly string[]) {
    super(
      `No Lambda function with logical id "${logicalId}" in this runner; known: ${known.join(', ') || '(none)'}. ` +
        'Check the event source mapping or re-run `npx cdk synth` so cdk.out matches the app.',
    );
  }
}

/** Raised by `invoke` after `close()`: the caller outlived the runner. */
export class RunnerClosedError extends Error {
  override readonly name = 'RunnerClosedError';

  constructor() {
    super('The LambdaRunner is closed; create a new runner (or stop the pollers before closing it).');
  }
}
