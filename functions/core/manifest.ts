import * as z from 'zod/mini';
import { isValidThreshold, minThreshold } from './task/decide';
import { encoderSchema } from './task/encoders';
import { taskIdSchema } from './task/id';
import { taskInputSpecSchema } from './task/inputs';
import { outputKindSchema } from './task/outputs';

/**
 * `models/<task>/manifest.json` (schema v2): one task, the models that serve it and the cascades
 * calibrated over them. It is everything serving needs: the task's labels and input, and per model
 * the file and its sha256, the input tensors, the encoder that fills them (with its fingerprint
 * check) and what the output means. Written by a task's training script or by hand for a model
 * you bring; `inferbus models validate` checks an entry against its file.
 */
export const MANIFEST_SCHEMA_VERSION = 2;

// zod/mini keeps the handler bundles small; the checks are the same as the classic API's.
const positiveInt = () => z.int().check(z.positive());
const nonNegativeInt = () => z.int().check(z.nonnegative());
const unit = () => z.number().check(z.minimum(0), z.maximum(1));

export { TASK_ID_PATTERN, taskIdSchema } from './task/id';

/** Model names are file-name-like and unique inside their task. */
export const MODEL_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const labelSchema = z.string().check(z.regex(/^[A-Za-z0-9][\w.-]{0,63}$/, 'labels are 1-64 word characters'));

const sha256Schema = z.string().check(z.regex(/^[0-9a-f]{64}$/, 'a lower-case hex sha256'));
const dimSchema = z.union([z.string().check(z.minLength(1)), positiveInt()]);

export const tensorInfoSchema = z.object({
  name: z.string().check(z.minLength(1)),
  dtype: z.enum(['float32', 'int32', 'int64']),
  /** Named dimensions (e.g. "N") are dynamic. */
  shape: z.array(dimSchema),
});

/**
 * Named measurements of one model or cascade on one split: `n` and whatever the task reports
 * (accuracy, precision, recall, f1, prAuc, macroF1, confusion counts...).
 */
export const metricSetSchema = z.catchall(z.object({ n: nonNegativeInt() }), z.number());
const splitMetricsSchema = z.object({ validation: metricSetSchema, test: metricSetSchema });

export const taskSchema = z.object({
  id: taskIdSchema,
  description: z.string(),
  /** In the order every model's output follows. */
  labels: z.array(labelSchema).check(z.minLength(2), z.maxLength(1000)),
  /** The label precision and recall are reported for (binary tasks with a rare class). */
  positiveLabel: z.optional(labelSchema),
  input: taskInputSpecSchema,
});

export const modelEntrySchema = z.object({
  name: z.string().check(z.regex(MODEL_NAME_PATTERN, 'model names are lowercase letters, digits and "-"')),
  /** Relative to the task's models directory. */
  file: z.string().check(z.regex(/^[\w.-]+\.onnx$/, "a file name ending in .onnx, in the manifest's folder")),
  sha256: sha256Schema,
  bytes: positiveInt(),
  opset: z.optional(z.int().check(z.minimum(7))),
  precision: z.enum(['float32', 'float16', 'int8']),
  inputs: z.array(tensorInfoSchema).check(z.minLength(1)),
  encoder: encoderSchema,
  output: z.extend(tensorInfoSchema, { kind: outputKindSchema }),
  metrics: z.optional(splitMetricsSchema),
});

export const cascadeSchema = z.object({
  /** Model names, cheapest first; the last one always answers. */
  tiers: z.array(z.string()).check(z.minLength(1), z.maxLength(9)),
  /** One per tier but the last: that tier answers when its confidence reaches it, else escalates. */
  thresholds: z.array(z.number()),
  /** How the thresholds were chosen, in words (e.g. "cheapest with accuracy >= last tier alone"). */
  objective: z.optional(z.string()),
  escalationRate: z.optional(z.object({ validation: unit(), test: unit() })),
  metrics: z.optional(splitMetricsSchema),
});

export const datasetSchema = z.object({
  name: z.string(),
  split: z.object({
    method: z.string(),
    counts: z.object({ train: nonNegativeInt(), validation: nonNegativeInt(), test: nonNegativeInt() }),
  }),
});

export const manifestSchema = z
  .object({
    schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
    task: taskSchema,
    dataset: z.optional(datasetSchema),
    training: z.optional(z.object({ framework: z.string(), backend: z.string(), seed: z.int() })),
    models: z.array(modelEntrySchema).check(z.minLength(1)),
    cascades: z.array(cascadeSchema),
  })
  .check(
    z.superRefine((manifest, ctx) => {
      for (const problem of manifestProblems(manifest))
        ctx.addIssue({ code: 'custom', ...problem, input: manifest });
    }),
  );

export type TensorInfo = z.infer<typeof tensorInfoSchema>;
export type MetricSet = z.infer<typeof metricSetSchema>;
export type TaskEntry = z.infer<typeof taskSchema>;
export type ModelEntry = z.infer<typeof modelEntrySchema>;
export type CascadeEntry = z.infer<typeof cascadeSchema>;
export type Manifest = z.infer<typeof manifestSchema>;

/** Cross-field rules the shapes alone cannot say; each names where it is and what to change. */
function manifestProblems(
  manifest: z.infer<ReturnType<typeof manifestShape>>,
): { path: PropertyKey[]; message: string }[] {
  const problems: { path: PropertyKey[]; message: string }[] = [];
  const { task } = manifest;
  const k = task.labels.length;
  if (new Set(task.labels).size !== k)
    problems.push({ path: ['task', 'labels'], message: 'duplicate labels' });
  if (task.positiveLabel !== undefined && !task.labels.includes(task.positiveLabel)) {
    problems.push({
      path: ['task', 'positiveLabel'],
      message: `"${task.positiveLabel}" is not one of the labels`,
    });
  }
  const names = new Set<string>();
  manifest.models.forEach((model, i) => {
    if (names.has(model.name))
      problems.push({ path: ['models', i, 'name'], message: `duplicate model name ${model.name}` });
    names.add(model.name);
    if (model.output.kind === 'sigmoid-binary' && k !== 2) {
      problems.push({
        path: ['models', i, 'output', 'kind'],
        message: `sigmoid-binary needs 2 labels, the task has ${k}; use "probabilities" or "logits"`,
      });
    }
    const textEncoder = model.encoder.kind === 'hashed-bag';
    if (textEncoder !== (task.input.kind === 'text')) {
      problems.push({
        path: ['models', i, 'encoder', 'kind'],
        message: `encoder ${model.encoder.kind} does not take the task's ${task.input.kind} input`,
      });
    }
    if (
      model.encoder.kind === 'numeric-vector' &&
      task.input.kind === 'features' &&
      model.encoder.length !== task.input.length
    ) {
      problems.push({
        path: ['models', i, 'encoder', 'length'],
        message: `is ${model.encoder.length}, the task's input has ${task.input.length} features`,
      });
    }
  });
  manifest.cascades.forEach((cascade, i) => {
    cascade.tiers.forEach((ref, t) => {
      if (!names.has(ref))
        problems.push({ path: ['cascades', i, 'tiers', t], message: `unknown model ${ref}` });
    });
    if (cascade.thresholds.length !== cascade.tiers.length - 1) {
      problems.push({
        path: ['cascades', i, 'thresholds'],
        message: `needs ${cascade.tiers.length - 1} thresholds (one per tier but the last), has ${cascade.thresholds.length}`,
      });
    }
    cascade.thresholds.forEach((threshold, t) => {
      if (!isValidThreshold(threshold, k)) {
        problems.push({
          path: ['cascades', i, 'thresholds', t],
          message: `${threshold} is outside [1/${k}, 1] = [${minThreshold(k).toFixed(4)}, 1]`,
        });
      }
    });
  });
  return problems;
}

// The unrefined shape, so manifestProblems can be typed before the refinement is attached.
function manifestShape() {
  return z.object({
    schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
    task: taskSchema,
    models: z.array(modelEntrySchema),
    cascades: z.array(cascadeSchema),
  });
}

export class ManifestVersionError extends Error {
  override name = 'ManifestVersionError';
}

/**
 * The schema version a parsed JSON manifest declares; a v1 manifest (one spam/ham task, two fixed
 * inputs) is refused with the command that migrates it.
 */
export function checkManifestVersion(raw: unknown, path: string): void {
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (version === MANIFEST_SCHEMA_VERSION) return;
  if (version === 1) {
    throw new ManifestVersionError(
      `${path} is a schema v1 manifest; this build reads v2 (a task with labels and input, an encoder and output kind per model). ` +
        `Run \`inferbus models migrate ${path} --task <id>\` to write the v2 manifest beside it.`,
    );
  }
  throw new ManifestVersionError(
    `${path}: schemaVersion ${JSON.stringify(version)} is not one this build reads (${MANIFEST_SCHEMA_VERSION})`,
  );
}

/** The cascade over `tiers` in order, if the manifest calibrated one. */
export const cascadeFor = (manifest: Manifest, tiers: readonly string[]): CascadeEntry | undefined =>
  manifest.cascades.find((c) => c.tiers.length === tiers.length && c.tiers.every((t, i) => t === tiers[i]));

/** The model entry named `name`, or an error listing the names there are. */
export function modelNamed(manifest: Manifest, name: string): ModelEntry {
  const entry = manifest.models.find((m) => m.name === name);
  if (!entry) {
    throw new ManifestVersionError(
      `task ${manifest.task.id} has no model named ${name} (it has ${manifest.models.map((m) => m.name).join(', ')})`,
    );
  }
  return entry;
}
