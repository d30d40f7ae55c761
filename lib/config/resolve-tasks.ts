import { cascadeFor, type Manifest } from '../../functions/core/manifest';
import { isValidThreshold } from '../../functions/core/task/decide';
import { readTaskManifest, TierModel, TierModelError } from '../constructs/tier-model';
import { ConfigError, formatConfigPath } from './load';
import type { StageConfig, TierConfig } from './schema';

/** One tier of a task, its model read from the task's manifest. */
export interface ResolvedTier {
  /** 1-based position in the task's tiers. */
  readonly tier: number;
  readonly lastTier: boolean;
  readonly model: TierModel;
  /** `manifest` or a number in [1/K, 1]; undefined for the last tier, which always answers. */
  readonly threshold?: 'manifest' | number;
  readonly settings: TierConfig;
}

export interface ResolvedTask {
  readonly id: string;
  readonly labels: readonly string[];
  readonly tiers: readonly ResolvedTier[];
}

/**
 * The stage's tasks with every tier's model taken from `<modelsDir>/<task>/manifest.json`. What
 * the schema alone cannot check is checked here, at synth, and every problem is reported at once
 * with its place in the configuration: a missing manifest, an unknown model, a tier before the
 * last without a threshold, a threshold outside [1/K, 1] for the task's K labels, `manifest` where
 * the manifest calibrated no cascade over exactly these tiers.
 */
export function resolveTasks(config: StageConfig, modelsDir: string): ResolvedTask[] {
  const problems: string[] = [];
  const problem = (path: PropertyKey[], message: string) =>
    problems.push(`${formatConfigPath(path)}: ${message}`);
  const resolved: ResolvedTask[] = [];
  config.tasks.forEach((task, t) => {
    let manifest: Manifest;
    try {
      manifest = readTaskManifest(modelsDir, task.id);
    } catch (error) {
      if (!(error instanceof TierModelError)) throw error;
      problem(['tasks', t, 'id'], error.message);
      return;
    }
    const tiers: ResolvedTier[] = [];
    task.tiers.forEach((settings, i) => {
      try {
        const model = TierModel.fromTaskManifest(modelsDir, manifest, settings.model);
        tiers.push({
          tier: i + 1,
          lastTier: i === task.tiers.length - 1,
          model,
          threshold: settings.threshold,
          settings,
        });
      } catch (error) {
        if (!(error instanceof TierModelError)) throw error;
        problem(['tasks', t, 'tiers', i, 'model'], error.message);
      }
    });
    if (tiers.length !== task.tiers.length) return;
    const labels = manifest.task.labels;
    const k = labels.length;
    const modelNames = tiers.map((tier) => tier.model.modelName);
    for (const tier of tiers) {
      const at = ['tasks', t, 'tiers', tier.tier - 1, 'threshold'];
      if (tier.lastTier) continue;
      if (tier.threshold === undefined) {
        problem(
          at,
          `tier ${tier.tier} of ${tiers.length} needs a threshold (a number in [1/${k}, 1], or "manifest") to decide when to escalate`,
        );
      } else if (tier.threshold === 'manifest') {
        if (!cascadeFor(manifest, modelNames)) {
          problem(
            at,
            `"manifest", but ${task.id}'s manifest calibrated no cascade over [${modelNames.join(', ')}] ` +
              `(it has ${manifest.cascades.map((c) => `[${c.tiers.join(', ')}]`).join(', ') || 'none'}); ` +
              'calibrate one (`inferbus models calibrate`) or give a number',
          );
        }
      } else if (!isValidThreshold(tier.threshold, k)) {
        problem(
          at,
          `${tier.threshold} is outside [1/${k}, 1]: task ${task.id} has ${k} labels (${labels.join(', ')}), so a confidence is never below 1/${k}`,
        );
      }
    }
    resolved.push({ id: task.id, labels, tiers });
  });
  if (problems.length > 0) {
    throw new ConfigError(
      `Invalid inferbus configuration for stage "${config.stage}":\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return resolved;
}
