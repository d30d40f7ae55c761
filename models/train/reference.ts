/** Scores of the training framework's (tfjs) own forward pass, written by train.ts, read by the tests. */
export const REFERENCE_FILE = 'reference-outputs.json';

/** The first REFERENCE_SAMPLE test messages by key. */
export const REFERENCE_SAMPLE = 64;

export interface ReferenceOutputs {
  keys: string[];
  scores: Record<string, number[]>;
}
