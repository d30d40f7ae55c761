/**
 * Windows of sensor readings and their split by time blocks per mote (pure: no dataset, no I/O).
 *
 * One example is a window of a mote's W latest readings: [humidity, temperature] per reading,
 * oldest first, then the mote's indoor flag; its label is that of the window's last reading.
 *
 * The split: each mote's readings, in time order, are cut into periods of BLOCK + W readings: a
 * block of BLOCK readings, then a gap of W readings that belongs to no split. Windows lie wholly
 * inside one block, so no window straddles two blocks, and two blocks' windows are at least W
 * readings apart. Block k of every mote goes to PATTERN[k mod PATTERN.length].
 */
export type SplitName = 'train' | 'validation' | 'test';

/**
 * Readings per window: 4 readings 5 s apart = 20 s, enough to see an event's onset (humidity rises
 * by 30 points within 4 readings) while keeping each block's loss small (W - 1 readings before the
 * first whole window, W readings of gap), so blocks can be short and both events reach every split.
 * With W = 8 (and blocks of 24) no event onset fell in the training split.
 */
export const WINDOW = 4;
/** Values per reading in a window, in this order. */
export const READING_FIELDS = ['humidity', 'temperature'] as const;
/** The window's length as a feature vector: W readings of [humidity, temperature], then indoor. */
export const FEATURE_LENGTH = WINDOW * READING_FIELDS.length + 1;
/** Position of the indoor flag in the vector (the last one). */
export const INDOOR_POSITION = FEATURE_LENGTH - 1;

/**
 * Readings per block (20 = 100 s). The data hold two labelled events, at about the same time on
 * motes 1 and 4 (117 and 32 readings); blocks much shorter than the longer one spread it over
 * several blocks, so every split holds part of it (block lengths 12-48 were compared by that alone).
 */
export const BLOCK = 20;
/** 3 train, 1 validation, 1 test, interleaved so neighbouring blocks go to different splits. */
export const PATTERN: readonly SplitName[] = ['train', 'validation', 'train', 'test', 'train'];

export interface Reading {
  readonly reading: number;
  readonly mote_id: number;
  readonly indoor: number;
  readonly humidity: number;
  readonly temperature: number;
  readonly label: number;
}

export interface SensorWindow {
  /** `mote<m>/r<reading>`: the mote and the window's last reading. */
  readonly id: string;
  readonly mote: number;
  /** Reading numbers of the window's first and last readings. */
  readonly first: number;
  readonly last: number;
  /** The block (per mote, counted from 0) the window lies in. */
  readonly block: number;
  readonly split: SplitName;
  readonly features: number[];
  /** 1 when the window's last reading is labelled as an introduced event. */
  readonly anomaly: 0 | 1;
}

export interface SplitOptions {
  readonly window?: number;
  readonly block?: number;
  readonly pattern?: readonly SplitName[];
}

export class SensorDataError extends Error {
  override name = 'SensorDataError';
}

/** The split a block index falls in. */
export const blockSplit = (block: number, pattern: readonly SplitName[] = PATTERN): SplitName =>
  pattern[block % pattern.length] as SplitName;

/**
 * Every window of every mote, in mote then time order, with its block and split. Readings are
 * grouped by mote and sorted by reading number; a mote's reading numbers must run 1, 2, 3...
 * without holes (a hole would put a window over a time jump).
 */
export function windows(readings: readonly Reading[], options: SplitOptions = {}): SensorWindow[] {
  const w = options.window ?? WINDOW;
  const block = options.block ?? BLOCK;
  const pattern = options.pattern ?? PATTERN;
  if (block < w) throw new SensorDataError(`a block (${block} readings) must hold a window (${w})`);
  const byMote = new Map<number, Reading[]>();
  for (const r of readings) {
    const list = byMote.get(r.mote_id) ?? [];
    list.push(r);
    byMote.set(r.mote_id, list);
  }
  const out: SensorWindow[] = [];
  for (const mote of [...byMote.keys()].sort((a, b) => a - b)) {
    const series = (byMote.get(mote) ?? []).slice().sort((a, b) => a.reading - b.reading);
    series.forEach((r, i) => {
      if (r.reading !== i + 1) {
        throw new SensorDataError(
          `mote ${mote}: reading ${i + 1} is missing or repeated (found ${r.reading}); windows need consecutive readings`,
        );
      }
    });
    const period = block + w;
    // The last block may be short; it still holds whole windows only.
    for (let start = 0; start + w <= series.length; start += period) {
      const k = start / period;
      const split = blockSplit(k, pattern);
      for (let end = start + w - 1; end < Math.min(start + block, series.length); end++) {
        const span = series.slice(end - w + 1, end + 1);
        const last = span[span.length - 1] as Reading;
        out.push({
          id: `mote${mote}/r${last.reading}`,
          mote,
          first: (span[0] as Reading).reading,
          last: last.reading,
          block: k,
          split,
          features: [...span.flatMap((r) => [r.humidity, r.temperature]), last.indoor],
          anomaly: last.label === 1 ? 1 : 0,
        });
      }
    }
  }
  return out;
}
