/** Bytes of a state file that salvage could not read. */
export interface LostRange {
  readonly offset: number;
  readonly bytes: number;
  readonly reason: string;
}

/** What salvage did with one file or folder of the state. */
export interface SalvagedFile {
  readonly path: string;
  /** Records copied (undefined: copied as it is, not record by record). */
  readonly kept?: number;
  readonly lost: readonly LostRange[];
  /** Left out of the new state folder entirely, and why. */
  readonly skipped?: string;
}
