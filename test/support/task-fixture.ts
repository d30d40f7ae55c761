import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../../functions/core/manifest';
import { PROJECT_ROOT } from '../../lib/app';
import { stages } from '../../lib/config';

/**
 * A models folder with two tasks, made from the shipped spam models (real ONNX files, real
 * sha256s): `spam` as shipped, and `triage`, the same three models declared as a task of its own
 * with a calibrated three-tier cascade (tier1 → tier2-int8 → tier2). Both are text tasks over
 * ham/spam, so their thresholds live in [1/2, 1].
 */
export function writeTwoTaskModels(): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-models-'));
  const spamDir = join(PROJECT_ROOT, 'models', 'spam');
  for (const task of ['spam', 'triage']) {
    mkdirSync(join(dir, task));
    for (const file of readdirSync(spamDir)) copyFileSync(join(spamDir, file), join(dir, task, file));
  }
  const manifest = JSON.parse(readFileSync(join(spamDir, 'manifest.json'), 'utf8')) as Manifest;
  const triage: Manifest = {
    ...manifest,
    task: { ...manifest.task, id: 'triage', description: 'spam/ham triage, three tiers' },
    cascades: [
      { tiers: ['tier1', 'tier2-int8', 'tier2'], thresholds: [0.8, 0.95], objective: 'test fixture' },
    ],
  };
  writeFileSync(join(dir, 'triage', 'manifest.json'), JSON.stringify(triage, null, 2));
  return dir;
}

type TierInput = (typeof stages.dev.tasks)[number]['tiers'][number] & Record<string, unknown>;

/** Dev's tier settings with `overrides`, small and without provisioned concurrency. */
export function tierSettings(model: string, overrides: Record<string, unknown> = {}): TierInput {
  const [base] = structuredClone(stages.dev.tasks[0]?.tiers ?? []);
  if (!base) throw new Error('dev has a tier');
  const { threshold: _threshold, ...rest } = base as TierInput;
  return {
    ...rest,
    model,
    provisionedConcurrency: { min: 0, max: 1, targetUtilization: 0.7 },
    ...overrides,
  } as TierInput;
}

/**
 * A stage config file (for `-c config=`) with two tenants and two tasks: spam (two tiers) first,
 * then triage (three tiers, thresholds from the manifest). `edit` may change it before it is written.
 */
export function writeTwoTaskConfig(
  edit: (config: { tasks: unknown[]; tenants: unknown[] }) => void = () => {},
) {
  const [acme, globex] = structuredClone(stages.dev.tenants);
  const config = {
    tenants: [acme, globex],
    tasks: [
      { id: 'spam', tiers: [tierSettings('tier1', { threshold: 0.9 }), tierSettings('tier2')] },
      {
        id: 'triage',
        tiers: [
          tierSettings('tier1', { threshold: 'manifest' }),
          tierSettings('tier2-int8', { threshold: 'manifest' }),
          tierSettings('tier2'),
        ],
      },
    ] as unknown[],
  };
  edit(config);
  const path = join(mkdtempSync(join(tmpdir(), 'inferbus-config-')), 'two-tasks.json');
  writeFileSync(path, JSON.stringify(config));
  return path;
}
