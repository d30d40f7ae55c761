/**
 * Hybrid logical clock (Kulkarni et al.): stamps that follow wall time but never go backwards and
 * order causally related events even when clocks drift. A stamp is `<wall-ms>-<counter>-<node>`:
 * compare wall, then counter, then node. Pure: the caller passes the wall clock reading.
 */
export interface HlcState {
  readonly wallMs: number;
  readonly counter: number;
}

export interface HlcStamp extends HlcState {
  readonly node: string;
}

const NODE_PATTERN = /^[A-Za-z0-9_.:]{1,40}$/;

export class HlcFormatError extends Error {
  override readonly name = 'HlcFormatError';
}

export function formatHlc(stamp: HlcStamp): string {
  return `${stamp.wallMs}-${stamp.counter}-${stamp.node}`;
}

export function parseHlc(text: string): HlcStamp {
  const match = /^(\d{1,16})-(\d{1,10})-(.+)$/.exec(text);
  if (!match || !NODE_PATTERN.test(match[3] as string)) {
    throw new HlcFormatError(`${JSON.stringify(text)} is not an HLC stamp <wall-ms>-<counter>-<node>`);
  }
  return { wallMs: Number(match[1]), counter: Number(match[2]), node: match[3] as string };
}

/** Negative, zero or positive, like a sort comparator. */
export function compareHlc(a: HlcStamp, b: HlcStamp): number {
  if (a.wallMs !== b.wallMs) return a.wallMs - b.wallMs;
  if (a.counter !== b.counter) return a.counter - b.counter;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

/** The next local stamp: wall time when it moved forward, otherwise the same wall and counter + 1. */
export function tickHlc(state: HlcState, nowMs: number): HlcState {
  if (nowMs > state.wallMs) return { wallMs: nowMs, counter: 0 };
  return { wallMs: state.wallMs, counter: state.counter + 1 };
}

/** Merges a stamp received from elsewhere, so the next local stamp orders after it. */
export function receiveHlc(state: HlcState, remote: HlcState, nowMs: number): HlcState {
  const wallMs = Math.max(state.wallMs, remote.wallMs, nowMs);
  if (wallMs === state.wallMs && wallMs === remote.wallMs) {
    return { wallMs, counter: Math.max(state.counter, remote.counter) + 1 };
  }
  if (wallMs === state.wallMs) return { wallMs, counter: state.counter + 1 };
  if (wallMs === remote.wallMs) return { wallMs, counter: remote.counter + 1 };
  return { wallMs, counter: 0 };
}

/** A clock for one node; `now` is injectable for tests. */
export class HybridLogicalClock {
  private state: HlcState = { wallMs: 0, counter: 0 };

  constructor(
    readonly node: string,
    private readonly now: () => number = Date.now,
  ) {
    if (!NODE_PATTERN.test(node)) {
      throw new HlcFormatError(`HLC node ${JSON.stringify(node)} must be 1-40 characters of [A-Za-z0-9_.:]`);
    }
  }

  /** A new stamp, strictly after every stamp this clock issued or observed. */
  next(): string {
    this.state = tickHlc(this.state, this.now());
    return formatHlc({ ...this.state, node: this.node });
  }

  /** Moves the clock past a stamp (from a restart's log, or a received event). */
  observe(stamp: string | HlcState): void {
    const remote = typeof stamp === 'string' ? parseHlc(stamp) : stamp;
    if (compareHlc({ ...remote, node: '' }, { ...this.state, node: '' }) > 0) {
      this.state = { wallMs: remote.wallMs, counter: remote.counter };
    }
  }

  snapshot(): HlcState {
    return this.state;
  }
}
