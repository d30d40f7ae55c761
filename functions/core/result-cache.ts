import { hash } from 'node:crypto';
import { inputKey, type TaskInput } from './task/inputs';

/**
 * A bounded LRU of model outputs for events this container already answered: a redelivered event
 * (the same tenant, event id and input) is answered without running the model again, and marked as
 * a duplicate. Keyed by the event, not by its input alone: two events that carry the same text or
 * vector are two events, each scored and neither a duplicate. The value is the event's row of label
 * probabilities (K numbers in the task's label order).
 */
export class ResultCache {
  private readonly entries = new Map<string, Float32Array>();

  constructor(private readonly capacity = 10_000) {}

  /**
   * The model's sha256, the event's tenant and id, and the sha256 of its input (an id reused for
   * another input is not a redelivery). One-shot `crypto.hash` builds no Hash object per input.
   */
  static key(modelSha256: string, event: { tenant: string; id: string }, input: TaskInput): string {
    return JSON.stringify([
      modelSha256,
      event.tenant,
      event.id,
      hash('sha256', inputKey(input), 'base64url'),
    ]);
  }

  get(key: string): Float32Array | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: string, probabilities: Float32Array): void {
    this.entries.delete(key);
    // A copy: the caller's row is usually a view into a whole batch's output, which it would pin.
    this.entries.set(key, Float32Array.from(probabilities));
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
