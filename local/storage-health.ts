import { fdatasyncSync } from 'node:fs';
import { writeFully } from './fs-sync.js';

/**
 * The writes that make the runtime's state durable (the SQS log, the Firehose write-ahead log).
 * Tests and the fault suite pass one that fails like a full disk; the runtime uses {@link diskWrites}.
 */
export interface DurableWrites {
  /** Writes all of `buf` at the file's current position; throws on a short or failed write. */
  write(fd: number, buf: Buffer): void;
  /** fdatasync. */
  sync(fd: number): void;
}

export const diskWrites: DurableWrites = { write: writeFully, sync: fdatasyncSync };

/**
 * A durable write failed (ENOSPC, EIO, a failed fsync, ...): nothing of the request that needed it
 * was applied, and the runtime keeps running. Retrying later succeeds once the disk has room again.
 * The local endpoints answer it as AWS answers an internal failure (HTTP 500, `InternalFailure`).
 */
export class StorageUnavailableError extends Error {
  override readonly name: string = 'StorageUnavailableError';
}

export function isStorageUnavailable(error: unknown): error is StorageUnavailableError {
  return error instanceof StorageUnavailableError;
}

/** The errno code or message of a failed write, for messages ("ENOSPC: no space left on device, write"). */
export function writeErrorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export interface StorageCondition {
  readonly ok: boolean;
  /** What failed, while not ok: the writer and its error. */
  readonly error?: string;
  /** Since when (ISO time), while not ok. */
  readonly since?: string;
}

/**
 * Whether the runtime's durable writers can write, for `/health`: each writer reports its failures
 * and its first success after one. The condition is logged once when it starts and once when it
 * clears, however many writes fail in between.
 */
export class StorageHealth {
  private readonly failing = new Map<string, { error: string; since: Date }>();

  constructor(
    private readonly log: (line: string) => void = () => {},
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** `writer` (e.g. "the SQS log queues.log") failed to write. */
  failed(writer: string, error: unknown): void {
    if (this.failing.has(writer)) return;
    const text = writeErrorText(error);
    this.failing.set(writer, { error: text, since: this.now() });
    this.log(
      `storage: writing ${writer} failed (${text}). Requests that need it fail with InternalFailure until a write succeeds again; free disk space and the runtime recovers by itself.`,
    );
  }

  /** `writer` wrote successfully. */
  succeeded(writer: string): void {
    const failure = this.failing.get(writer);
    if (failure === undefined) return;
    this.failing.delete(writer);
    this.log(`storage: writing ${writer} works again (it failed since ${failure.since.toISOString()}).`);
  }

  condition(): StorageCondition {
    const first = this.failing.entries().next();
    if (first.done) return { ok: true };
    const [writer, { error, since }] = first.value;
    const more = this.failing.size > 1 ? ` (and ${this.failing.size - 1} more writer(s))` : '';
    return { ok: false, error: `${error}: ${writer}${more}`, since: since.toISOString() };
  }
}
