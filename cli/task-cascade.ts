import { decide } from '../functions/core/task/decide';
import type { TaskInput } from '../functions/core/task/inputs';
import type { ModelScorer } from '../functions/inference/model';

/**
 * A task's cascade run on this machine, as the handlers run it: every input through tier 1, the
 * ones it is unsure of through tier 2, and so on; each tier scores whole batches
 * (`ModelScorer.score`) and the one `decide` rule answers or escalates. Used by replay, cost and
 * the cascade benchmark.
 */
export interface CascadeAnswer {
  readonly label: string;
  /** 1-based position of the tier that answered. */
  readonly tier: number;
  readonly score: number;
}

export interface CascadeOutcome {
  /** Per input, its answer; undefined for rejected inputs. */
  readonly answers: readonly (CascadeAnswer | undefined)[];
  /** Inputs a tier's encoder refused (the service dead-letters them), with the reason. */
  readonly rejected: ReadonlyMap<number, string>;
  /** Per tier, the indexes of the inputs that reached it (tier 1: all). */
  readonly reached: readonly (readonly number[])[];
}

/**
 * `thresholds` has one entry per tier but the last. Batches of `batchSize` per `score` call, in
 * input order, so the outcome does not depend on the batch size.
 */
export async function runTaskCascade(
  tiers: readonly ModelScorer[],
  thresholds: readonly number[],
  inputs: readonly TaskInput[],
  batchSize: number,
): Promise<CascadeOutcome> {
  if (tiers.length === 0) throw new Error('a cascade needs at least one tier');
  if (thresholds.length !== tiers.length - 1) {
    throw new Error(
      `a cascade of ${tiers.length} tiers needs ${tiers.length - 1} thresholds, got ${thresholds.length}`,
    );
  }
  const answers: (CascadeAnswer | undefined)[] = new Array(inputs.length).fill(undefined);
  const rejected = new Map<number, string>();
  const reached: number[][] = [];
  let pending = inputs.map((_, i) => i);
  for (const [t, scorer] of tiers.entries()) {
    reached.push(pending);
    const last = t === tiers.length - 1;
    const next: number[] = [];
    const k = scorer.labels.length;
    for (let start = 0; start < pending.length; start += batchSize) {
      const indexes = pending.slice(start, start + batchSize);
      const scored = await scorer.score(indexes.map((i) => inputs[i] as TaskInput));
      indexes.forEach((index, row) => {
        const reason = scored.rejected.get(row);
        if (reason !== undefined) {
          rejected.set(index, reason);
          return;
        }
        if (!Number.isFinite(scored.probabilities[row * k] as number)) {
          rejected.set(index, `tier ${t + 1}: the model's output is not a probability distribution`);
          return;
        }
        const d = decide(scored.probabilities, row, scorer.labels, thresholds[t] ?? 1, last);
        if (d.escalate) next.push(index);
        else answers[index] = { label: d.label, tier: t + 1, score: d.score };
      });
    }
    pending = next;
  }
  return { answers, rejected, reached };
}
