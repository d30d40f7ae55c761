import type { CliIO } from './io';

/**
 * A progress line: on a terminal a bar redrawn in place with rate and ETA; otherwise a plain
 * line at most every `intervalMs`, so logs stay readable.
 */
export class Progress {
  private readonly started = Date.now();
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly io: CliIO & { write?: (text: string) => void },
    private readonly total: number,
    private readonly label: string,
    private readonly intervalMs = 1_000,
  ) {}

  private lastDone = -1;

  update(done: number, extra = '', force = false): void {
    const now = Date.now();
    if (force && done === this.lastDone) return;
    const interactive = this.io.interactive && this.io.write;
    if (!force && now - this.lastDraw < (interactive ? 100 : this.intervalMs)) return;
    this.lastDraw = now;
    this.lastDone = done;
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const rate = done / seconds;
    const eta = rate > 0 && this.total > done ? (this.total - done) / rate : 0;
    const pct = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const stats = `${done}/${this.total} ${(pct * 100).toFixed(0)}% ${rate.toFixed(0)}/s ETA ${formatSeconds(eta)}${extra ? ` ${extra}` : ''}`;
    if (interactive) {
      const width = 30;
      const filled = Math.round(pct * width);
      this.io.write?.(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}\x1b[K`);
      this.drawn = true;
    } else {
      this.io.err(`${this.label}: ${stats}`);
    }
  }

  done(): void {
    if (this.drawn) this.io.write?.('\n');
  }
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return '0s';
  if (seconds < 60) return `${seconds.toFixed(0)}s`;
  const m = Math.floor(seconds / 60);
  return `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(2)} ${units[unit]}`;
}
