import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  checkManifestVersion,
  type Manifest,
  type ModelEntry,
  manifestSchema,
  modelNamed,
  type TaskEntry,
} from '../core/manifest';
import { checkEncoder, type EncodedBatch, type Encoder, makeEncoder } from '../core/task/encoders';
import type { TaskInput } from '../core/task/inputs';
import { decodeProbabilities } from '../core/task/outputs';

/**
 * Serving helper for any task: load a task's manifest, verify each model file's sha256, open one
 * InferenceSession per model (at init, outside the handler), warm it, and score whole batches with
 * one `session.run`: inputs → the model's encoder → tensors → output → [N, K] label probabilities.
 */

export class ModelError extends Error {
  override name = 'ModelError';
}
export class ManifestError extends ModelError {
  override name = 'ManifestError';
}
export class ModelIntegrityError extends ModelError {
  override name = 'ModelIntegrityError';
  constructor(
    readonly file: string,
    readonly expectedSha256: string,
    readonly actualSha256: string,
  ) {
    super(
      `model file ${file} has sha256 ${actualSha256}, manifest expects ${expectedSha256}; refusing to load it`,
    );
  }
}
export class InferenceError extends ModelError {
  override name = 'InferenceError';
}

export interface SessionOptions {
  /** Threads inside one operator; 1 suits a Lambda with one vCPU share and a worker per model. */
  intraOpNumThreads?: number;
}

export const MANIFEST_FILE = 'manifest.json';

/** Where a task's manifest and model files live: `<modelsDir>/<task>/`. */
export const taskModelsDir = (modelsDir: string, task: string): string => join(modelsDir, task);

/** Reads and validates `<dir>/manifest.json` (a task's models folder). */
export async function loadManifestFile(dir: string): Promise<Manifest> {
  const path = join(dir, MANIFEST_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new ManifestError(`cannot read ${path}`, { cause });
  }
  return parseManifest(raw, path);
}

export function parseManifest(raw: unknown, path: string): Manifest {
  try {
    checkManifestVersion(raw, path);
  } catch (cause) {
    throw new ManifestError((cause as Error).message, { cause });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ManifestError(`invalid ${path}: ${problems.join('; ')}`, { cause: parsed.error });
  }
  return parsed.data;
}

/** The manifest of `task` under `modelsDir`; its task id must be `task`. */
export async function loadManifest(modelsDir: string, task: string): Promise<Manifest> {
  const manifest = await loadManifestFile(taskModelsDir(modelsDir, task));
  if (manifest.task.id !== task) {
    throw new ManifestError(
      `${join(taskModelsDir(modelsDir, task), MANIFEST_FILE)} declares task ${manifest.task.id}; a task's folder must carry its own id`,
    );
  }
  return manifest;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What a scorer needs from a manifest entry; training uses it before the manifest is written. */
export type ScorerEntry = Pick<ModelEntry, 'name' | 'inputs' | 'output' | 'encoder'>;

/** A batch scored: [N, K] probabilities in the task's label order; rows that could not be encoded are NaN. */
export interface ScoredBatch {
  readonly probabilities: Float32Array;
  /** Inputs the encoder refused (no features, wrong kind), by index, with the reason. */
  readonly rejected: ReadonlyMap<number, string>;
}

export class ModelScorer {
  private readonly encoder: Encoder;

  private constructor(
    readonly entry: ScorerEntry,
    readonly labels: readonly string[],
    private readonly session: ort.InferenceSession,
  ) {
    this.encoder = makeEncoder(entry.encoder);
  }

  /** Opens a session from the model's bytes, checks the encoder, warms it with one input. */
  static async create(
    bytes: Uint8Array,
    entry: ScorerEntry,
    task: Pick<TaskEntry, 'labels'>,
    options: SessionOptions = {},
  ): Promise<ModelScorer> {
    checkEncoder(entry.name, entry.encoder, entry.inputs);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: options.intraOpNumThreads ?? 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    } catch (cause) {
      throw new ModelError(`model ${entry.name}: onnxruntime cannot load it`, { cause });
    }
    checkSessionNames(entry, session);
    const scorer = new ModelScorer(entry, task.labels, session);
    const warm = await scorer.score([scorer.encoder.warmUpInput]);
    if (warm.rejected.size > 0)
      throw new ModelError(`model ${entry.name}: its encoder refuses the warm-up input`);
    return scorer;
  }

  /** Encodes a batch for this model: the tensors, and which inputs it refused and why. */
  encode(inputs: readonly TaskInput[]): EncodedBatch {
    return this.encoder.encode(inputs, this.entry.inputs);
  }

  /** [N, K] label probabilities per input, in order: one encode and one `session.run` for the batch. */
  async score(inputs: readonly TaskInput[]): Promise<ScoredBatch> {
    const k = this.labels.length;
    const probabilities = new Float32Array(inputs.length * k).fill(Number.NaN);
    if (inputs.length === 0) return { probabilities, rejected: new Map() };
    const encoded = this.encode(inputs);
    const rows = await this.scoreEncoded(encoded);
    encoded.accepted.forEach((index, row) => {
      probabilities.set(rows.subarray(row * k, (row + 1) * k), index * k);
    });
    return { probabilities, rejected: new Map(encoded.rejected.map((r) => [r.index, r.reason])) };
  }

  /**
   * [accepted rows, K] probabilities of an already encoded batch: the `session.run` and output
   * decoding alone, so benchmarks can time the model apart from encoding.
   */
  async scoreEncoded(batch: EncodedBatch): Promise<Float32Array> {
    const n = batch.accepted.length;
    if (n === 0) return new Float32Array(0);
    const feeds: Record<string, ort.Tensor> = {};
    for (const feed of batch.feeds) feeds[feed.name] = new ort.Tensor(feed.dtype, feed.data, [...feed.dims]);
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run(feeds);
    } catch (cause) {
      throw new InferenceError(`model ${this.entry.name}: session.run failed for a batch of ${n}`, { cause });
    }
    const { output } = this.entry;
    const data = result[output.name]?.data;
    if (!(data instanceof Float32Array)) {
      throw new InferenceError(`model ${this.entry.name}: output ${output.name} is missing or not float32`);
    }
    try {
      return decodeProbabilities(data, output.kind, n, this.labels.length);
    } catch (cause) {
      throw new InferenceError(`model ${this.entry.name}: ${(cause as Error).message}`, { cause });
    }
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** The model's graph must have the input and output names the manifest declares. */
function checkSessionNames(entry: ScorerEntry, session: ort.InferenceSession): void {
  const missingInputs = entry.inputs.map((i) => i.name).filter((name) => !session.inputNames.includes(name));
  const missingOutput = session.outputNames.includes(entry.output.name) ? [] : [entry.output.name];
  if (missingInputs.length > 0 || missingOutput.length > 0) {
    throw new ModelError(
      `model ${entry.name}: the ONNX graph has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]; ` +
        `the manifest names ${[...missingInputs.map((n) => `input ${n}`), ...missingOutput.map((n) => `output ${n}`)].join(', ')}, which it lacks`,
    );
  }
}

export interface LoadModelOptions extends SessionOptions {
  /** Handlers pass `process.env.MODELS_DIR ?? '/opt/models'`; the task's files are in `<modelsDir>/<task>/`. */
  modelsDir: string;
  task: string;
  /** The manifest entry's name, e.g. "tier1". */
  name: string;
  /** Saves reading the manifest again when loading several models. */
  manifest?: Manifest;
}

/** Reads and verifies one model of a task; refuses a file whose sha256 differs. */
export async function loadModel(options: LoadModelOptions): Promise<ModelScorer> {
  const manifest = options.manifest ?? (await loadManifest(options.modelsDir, options.task));
  let entry: ModelEntry;
  try {
    entry = modelNamed(manifest, options.name);
  } catch (cause) {
    throw new ManifestError((cause as Error).message, { cause });
  }
  const path = join(taskModelsDir(options.modelsDir, options.task), entry.file);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new ModelError(`cannot read model file ${path}`, { cause });
  }
  const actual = sha256Hex(bytes);
  if (actual !== entry.sha256) throw new ModelIntegrityError(path, entry.sha256, actual);
  return ModelScorer.create(bytes, entry, manifest.task, options);
}
