/**
 * Event names shared by the CDK rules, the handlers, the producer and the local runtime.
 * Changing a value here changes routing everywhere at once; there is no second copy.
 */
export const EVENT_SOURCE_ROOT = 'inferbus';

/** Every producer's `source` is `inferbus.<tenant>`; results are published as `inferbus.results`. */
export const tenantSource = (tenant: string): string => `${EVENT_SOURCE_ROOT}.${tenant}`;
export const RESULT_SOURCE = `${EVENT_SOURCE_ROOT}.results`;

export const DetailType = {
  InferenceRequested: 'InferenceRequested',
  EscalationRequested: 'EscalationRequested',
  InferenceCompleted: 'InferenceCompleted',
  InferenceFailed: 'InferenceFailed',
  SequenceGap: 'SequenceGap',
} as const;
export type DetailType = (typeof DetailType)[keyof typeof DetailType];
