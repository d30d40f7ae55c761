import type { CascadeEntry } from '../../functions/core/manifest';
import {
  type CalibrationObjective,
  type CascadeScores,
  calibrateCascade,
  calibratedCascadeEntry,
  DEFAULT_OBJECTIVE,
  runCascade,
} from '../../functions/core/task/calibrate';

/** Every model's [N, K] probabilities on the validation and test splits, with the true label indices. */
export interface SplitScores {
  readonly labels: readonly string[];
  readonly positiveLabel?: string;
  readonly validation: {
    readonly truth: ArrayLike<number>;
    readonly probabilities: ReadonlyMap<string, Float32Array>;
  };
  readonly test: {
    readonly truth: ArrayLike<number>;
    readonly probabilities: ReadonlyMap<string, Float32Array>;
  };
}

/**
 * The manifest's cascade entries, any task: each cascade's thresholds calibrated on validation by
 * `objective` (`inferbus models calibrate`'s default unless given), measured on both splits.
 */
export function trainedCascades(
  cascades: readonly (readonly string[])[],
  scores: SplitScores,
  objective: CalibrationObjective = DEFAULT_OBJECTIVE,
): { entry: CascadeEntry; met: boolean }[] {
  return cascades.map((tiers) => {
    const on = (split: SplitScores['validation']): CascadeScores => ({
      labels: scores.labels,
      ...(scores.positiveLabel === undefined ? {} : { positiveLabel: scores.positiveLabel }),
      truth: split.truth,
      tiers: tiers.map((name) => {
        const probabilities = split.probabilities.get(name);
        if (!probabilities) throw new Error(`no scores for model ${name}`);
        return probabilities;
      }),
    });
    const calibration = calibrateCascade(on(scores.validation), objective);
    const entry = calibratedCascadeEntry(tiers, calibration, {
      validation: runCascade(on(scores.validation), calibration.thresholds),
      test: runCascade(on(scores.test), calibration.thresholds),
    });
    return { entry, met: calibration.met };
  });
}
