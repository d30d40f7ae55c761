import { LOCAL_ACCOUNT, type QueueModel } from '../model.js';
import { QueueDoesNotExistError } from './errors.js';
import { type Message, Queue } from './queue.js';

/**
 * The store's queues, found by ARN, URL or name. Orphans (queues the state folder holds but the
 * templates no longer define) are found by name only, so callers cannot reach them.
 */
export class QueueRegistry {
  /** Template queues in template order, then orphans in the order replay found them. */
  readonly all: Queue[] = [];
  private readonly byKey = new Map<string, Queue>();
  private readonly byName = new Map<string, Queue>();

  constructor(models: readonly QueueModel[]) {
    for (const model of models) {
      const q = new Queue(model);
      this.all.push(q);
      this.byName.set(model.name, q);
      this.byKey.set(model.arn, q);
      this.byKey.set(model.url, q);
      this.byKey.set(model.name, q);
    }
  }

  /** Resolves a queue ARN, URL or name; throws QueueDoesNotExistError. */
  resolve(ref: string): Queue {
    const q = this.byKey.get(ref);
    if (q !== undefined) return q;
    // A queue URL with another host or port (localhost vs 127.0.0.1): match /<account>/<name>.
    if (typeof ref === 'string' && /^https?:\/\//.test(ref)) {
      try {
        const parts = new URL(ref).pathname.split('/').filter(Boolean);
        if (parts.length === 2 && parts[0] === LOCAL_ACCOUNT) {
          const byName = this.byName.get(parts[1] as string);
          if (byName !== undefined && !byName.orphan) return byName;
        }
      } catch {
        // Not a URL after all: fall through to the error.
      }
    }
    throw new QueueDoesNotExistError(String(ref));
  }

  byArn(arn: string): Queue | undefined {
    const q = this.byKey.get(arn);
    return q !== undefined && q.model.arn === arn ? q : undefined;
  }

  /** Any queue by name, orphans included. */
  named(name: string): Queue | undefined {
    return this.byName.get(name);
  }

  addOrphan(model: QueueModel): Queue {
    const q = new Queue(model, true);
    this.all.push(q);
    this.byName.set(model.name, q);
    return q;
  }

  /** Queue models, in template order (orphans excluded). */
  models(): QueueModel[] {
    return this.all.filter((q) => !q.orphan).map((q) => q.model);
  }

  messageById(id: string): Message | undefined {
    for (const q of this.all) {
      const m = q.messages.get(id);
      if (m !== undefined) return m;
    }
    return undefined;
  }

  /** Approximate bytes of all live messages (see `Queue.bytes`). */
  liveBytes(): number {
    let n = 0;
    for (const q of this.all) n += q.bytes;
    return n;
  }
}
