import type { Manifest, MetricSet } from './manifest';
import { MANIFEST_SCHEMA_VERSION } from './manifest';

/**
 * Migration of a schema v1 manifest (the spam/ham task before the task contract) to v2. v1 fixed
 * the labels to ham/spam, the inputs to [ids, weights] and the features to the hashed bag; v2
 * states all three, so the migration is exact: the same models serve the same answers.
 */
interface V1Metrics extends MetricSet {}
interface V1Model {
  name: string;
  tier?: number;
  file: string;
  sha256: string;
  bytes: number;
  opset: number;
  precision: 'float32' | 'int8';
  inputs: Manifest['models'][number]['inputs'];
  output: {
    name: string;
    dtype: 'float32' | 'int32' | 'int64';
    shape: (string | number)[];
    kind: 'spam-probability' | 'class-probabilities';
  };
  labels: [string, string];
  features: Record<string, unknown> & { fingerprint: string };
  metrics: { validation: V1Metrics; test: V1Metrics };
}
interface V1Cascade {
  tier1: string;
  tier2: string;
  threshold: number;
  maxAccuracyLoss: number;
  escalationRate: { validation: number; test: number };
  metrics: { validation: V1Metrics; test: V1Metrics };
}
export interface ManifestV1 {
  schemaVersion: 1;
  task: string;
  dataset: Manifest['dataset'];
  training: Manifest['training'];
  models: V1Model[];
  cascades: V1Cascade[];
}

/** The v2 manifest of a v1 one; validate the result with `manifestSchema` before writing it. */
export function migrateManifestV1(v1: ManifestV1, taskId: string): unknown {
  return {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    task: {
      id: taskId,
      description: v1.task,
      labels: ['ham', 'spam'],
      positiveLabel: 'spam',
      input: { kind: 'text' },
    },
    dataset: v1.dataset,
    training: v1.training,
    models: v1.models.map((m) => ({
      name: m.name,
      file: m.file,
      sha256: m.sha256,
      bytes: m.bytes,
      opset: m.opset,
      precision: m.precision,
      inputs: m.inputs,
      encoder: { kind: 'hashed-bag', ...m.features },
      output: {
        name: m.output.name,
        dtype: m.output.dtype,
        shape: m.output.shape,
        kind: m.output.kind === 'spam-probability' ? 'sigmoid-binary' : 'probabilities',
      },
      metrics: m.metrics,
    })),
    cascades: v1.cascades.map((c) => ({
      tiers: [c.tier1, c.tier2],
      thresholds: [c.threshold],
      objective: `highest validation accuracy within ${c.maxAccuracyLoss} of the last tier alone (v1 calibration)`,
      escalationRate: c.escalationRate,
      metrics: c.metrics,
    })),
  };
}
