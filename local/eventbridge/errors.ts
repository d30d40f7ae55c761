/**
 * Raised for a pattern EventBridge would refuse. The message mirrors the service's
 * `InvalidEventPatternException` ("Event pattern is not valid. Reason: ..."), whose reasons come
 * from aws/event-ruler's JsonRuleCompiler; `reason` holds the part after "Reason: ".
 */
export class InvalidEventPatternError extends Error {
  override readonly name = 'InvalidEventPatternError';
  /** The AWS error code the local EventBridge endpoint answers with. */
  readonly code = 'InvalidEventPatternException';
  readonly reason: string;

  constructor(reason: string) {
    super(`Event pattern is not valid. Reason: ${reason}`);
    this.reason = reason;
  }
}

export function invalidPattern(reason: string): never {
  throw new InvalidEventPatternError(reason);
}
