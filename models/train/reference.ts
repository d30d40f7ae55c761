/** Scores of the training framework's (tfjs) own forward pass, written by train.ts, read by the tests. */
export const REFERENCE_FILE = 'reference-outputs.json';

/** REFERENCE_SAMPLE test messages, evenly spaced by key so every group (ham and spam) appears. */
export const REFERENCE_SAMPLE = 64;

export interface ReferenceOutputs {
  /** What produced the scores (framework, backend). */
  producer: string;
  /** message key -> model name -> P(spam). */
  scores: Record<string, Record<string, number>>;
}
