import { hash } from 'node:crypto';

/**
 * A bounded LRU of model outputs keyed by (model sha256, input hash): a redelivered event in a
 * warm container is answered without running the model again, and marked as a duplicate.
 */
export class ResultCache {
  private readonly entries = new Map<string, number>();

  constructor(private readonly capacity = 10_000) {}

  /** One-shot `crypto.hash`: the same digest as a Hash object, without building one per text. */
  static key(modelSha256: string, input: string): string {
    return `${modelSha256}:${hash('sha256', input, 'base64url')}`;
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
