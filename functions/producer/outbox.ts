import {
  closeSync,
  existsSync,
  fdatasyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { PutEventsEntry } from '../core/put-events';

export interface OutboxOptions {
  readonly dir: string;
  /** fdatasync after every append: survives power loss, not only a killed process. @default false */
  readonly fsync?: boolean;
  /** Compact (empty the log) once everything is sent and the log is larger than this. @default 8 MiB */
  readonly compactBytes?: number;
}

/** What survives a restart besides unsent entries: counters the producer continues from. */
export interface OutboxState {
  readonly sequences?: Record<string, Record<string, number>>;
  readonly hlc?: { wallMs: number; counter: number };
}

const LOG = 'outbox.ndjson';
const CURSOR = 'cursor';
const STATE = 'state.json';

/**
 * A durable, append-only outbox. Each emitted entry is appended as one JSON line before `emit`
 * returns; `cursor` holds how many lines from the start have been settled (accepted or given up).
 * After a restart the lines past the cursor are sent again, in order. A kill between PutEvents
 * accepting a request and the cursor moving re-sends that request: delivery is at-least-once.
 * A torn last line (killed mid-write) was never acknowledged to the caller and is dropped.
 */
export class Outbox {
  private fd: number;
  private lines: number;
  private settled: number;
  private bytes: number;
  private readonly recovered: PutEventsEntry[];
  readonly state: OutboxState;

  constructor(private readonly options: OutboxOptions) {
    mkdirSync(options.dir, { recursive: true });
    const logPath = join(options.dir, LOG);
    const text = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
    const complete = text.lastIndexOf('\n') + 1;
    const lines = text.slice(0, complete).split('\n').slice(0, -1);
    this.fd = openSync(logPath, 'a+');
    if (complete < Buffer.byteLength(text))
      ftruncateSync(this.fd, Buffer.byteLength(text.slice(0, complete)));
    this.lines = lines.length;
    this.bytes = Buffer.byteLength(text.slice(0, complete));
    const cursorPath = join(options.dir, CURSOR);
    const cursor = existsSync(cursorPath) ? Number(readFileSync(cursorPath, 'utf8').trim()) || 0 : 0;
    this.settled = Math.min(cursor, this.lines);
    if (this.settled !== cursor) this.writeCursor();
    const statePath = join(options.dir, STATE);
    this.state = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as OutboxState) : {};
    this.all = lines.map((line) => JSON.parse(line) as PutEventsEntry);
    this.recovered = this.all.slice(this.settled);
  }

  /** Every entry in the log (settled ones too): a producer reads its counters back from them. */
  readonly all: PutEventsEntry[];

  /** Entries appended before a restart and not settled, oldest first. */
  unsent(): readonly PutEventsEntry[] {
    return this.recovered;
  }

  get pending(): number {
    return this.lines - this.settled;
  }

  append(entry: PutEventsEntry): void {
    const line = `${JSON.stringify(entry)}\n`;
    const buffer = Buffer.from(line, 'utf8');
    let offset = 0;
    while (offset < buffer.length) offset += writeSync(this.fd, buffer, offset);
    if (this.options.fsync) fdatasyncSync(this.fd);
    this.lines++;
    this.bytes += buffer.length;
  }

  /** Marks the next `count` entries (in append order) settled. */
  settle(count: number, state: () => OutboxState): void {
    if (count <= 0) return;
    this.settled = Math.min(this.lines, this.settled + count);
    if (this.settled === this.lines && this.bytes > (this.options.compactBytes ?? 8 * 1024 * 1024)) {
      this.compact(state());
    } else {
      this.writeCursor();
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Everything is settled: keep the counters, empty the log. Truncate first, then the cursor. */
  private compact(state: OutboxState): void {
    atomicWrite(join(this.options.dir, STATE), JSON.stringify(state));
    ftruncateSync(this.fd, 0);
    this.lines = 0;
    this.settled = 0;
    this.bytes = 0;
    this.all.length = 0;
    this.writeCursor();
  }

  private writeCursor(): void {
    atomicWrite(join(this.options.dir, CURSOR), String(this.settled));
  }

  /** Size of the log on disk, for diagnostics. */
  sizeOnDisk(): number {
    return statSync(join(this.options.dir, LOG)).size;
  }
}

function atomicWrite(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}
