import { hash } from 'node:crypto';

/**
 * A bounded LRU of model outputs for events this container already answered: a redelivered event
 * (the same tenant, event id and text) is answered without running the model again, and marked as
 * a duplicate. Keyed by the event, not by its text alone: two events that carry the same text are
 * two events, each scored and neither a duplicate.
 */
export class ResultCache {
  private readonly entries = new Map<string, number>();

  constructor(private readonly capacity = 10_000) {}

  /**
   * The model's sha256, the event's tenant and id, and the sha256 of its text (an id reused for
   * other text is not a redelivery). One-shot `crypto.hash` builds no Hash object per text.
   */
  static key(modelSha256: string, event: { tenant: string; id: string }, input: string): string {
    return JSON.stringify([modelSha256, event.tenant, event.id, hash('sha256', input, 'base64url')]);
  }

  get(key: string): number | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: string, value: number): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
