import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { encodeBatch, type FeatureBatch, type FeatureSpec, featureFingerprint } from '../core/features';
import { type Manifest, type ModelEntry, manifestSchema } from '../core/manifest';

/**
 * Serving helper: load the manifest, verify each model file's sha256, open one InferenceSession per
 * model (at init, outside the handler), warm it, and score whole batches with one `session.run`.
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
export class FeatureMismatchError extends ModelError {
  override name = 'FeatureMismatchError';
}
export class InferenceError extends ModelError {
  override name = 'InferenceError';
}

export interface SessionOptions {
  /** Threads inside one operator; 1 suits a Lambda with one vCPU share and a worker per model. */
  intraOpNumThreads?: number;
}

export const MANIFEST_FILE = 'manifest.json';

export async function loadManifest(modelsDir: string): Promise<Manifest> {
  const path = join(modelsDir, MANIFEST_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new ManifestError(`cannot read ${path}`, { cause });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success)
    throw new ManifestError(`invalid ${path}: ${parsed.error.message}`, { cause: parsed.error });
  return parsed.data;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What a scorer needs from a manifest entry; training uses it before the manifest exists. */
export type ScorerEntry = Pick<ModelEntry, 'name' | 'inputs' | 'output'> & {
  features: FeatureSpec & { fingerprint?: string };
};

export class ModelScorer {
  private constructor(
    readonly entry: ScorerEntry,
    private readonly session: ort.InferenceSession,
  ) {}

  /** Opens a session from the model's bytes, checks the feature extractor, warms it with a dummy batch. */
  static async create(
    bytes: Uint8Array,
    entry: ScorerEntry,
    options: SessionOptions = {},
  ): Promise<ModelScorer> {
    const { features } = entry;
    if (features.fingerprint !== undefined && features.fingerprint !== featureFingerprint(features)) {
      throw new FeatureMismatchError(
        `model ${entry.name}: this build's feature extractor computes fingerprint ${featureFingerprint(features)}, ` +
          `the manifest expects ${features.fingerprint}; retrain or deploy the matching code`,
      );
    }
    for (const input of entry.inputs) {
      if (input.shape[1] !== features.maxLength) {
        throw new FeatureMismatchError(
          `model ${entry.name}: input ${input.name} has shape ${JSON.stringify(input.shape)}, features have L=${features.maxLength}`,
        );
      }
    }
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
    const scorer = new ModelScorer(entry, session);
    await scorer.scoreBatch(['warm-up']);
    return scorer;
  }

  /** P(spam) per text, in order: one feature pass and one `session.run` for the whole batch. */
  async scoreBatch(texts: readonly string[]): Promise<Float32Array> {
    if (texts.length === 0) return new Float32Array(0);
    return this.scoreFeatures(encodeBatch(texts, this.entry.features));
  }

  /**
   * P(spam) per row of an already encoded batch (`encodeBatch` with this model's feature spec):
   * the `session.run` alone, so benchmarks can time the model apart from feature extraction.
   */
  async scoreFeatures(batch: FeatureBatch): Promise<Float32Array> {
    if (batch.batchSize === 0) return new Float32Array(0);
    const { inputs, output } = this.entry;
    const [idsInfo, weightsInfo] = inputs;
    const dims = [batch.batchSize, batch.maxLength];
    const ids =
      idsInfo.dtype === 'int64'
        ? new ort.Tensor(
            'int64',
            BigInt64Array.from(batch.ids, (v) => BigInt(v)),
            dims,
          )
        : new ort.Tensor('int32', batch.ids, dims);
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run({
        [idsInfo.name]: ids,
        [weightsInfo.name]: new ort.Tensor('float32', batch.weights, dims),
      });
    } catch (cause) {
      throw new InferenceError(
        `model ${this.entry.name}: session.run failed for a batch of ${batch.batchSize}`,
        { cause },
      );
    }
    const data = result[output.name]?.data;
    if (!(data instanceof Float32Array)) {
      throw new InferenceError(`model ${this.entry.name}: output ${output.name} is missing or not float32`);
    }
    if (output.kind === 'spam-probability') return data;
    // [N, 2] class probabilities in labels order (ham, spam).
    return Float32Array.from({ length: batch.batchSize }, (_, i) => data[i * 2 + 1] ?? Number.NaN);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

export interface LoadModelOptions extends SessionOptions {
  /** Handlers pass `process.env.MODELS_DIR ?? '/opt/models'`. */
  modelsDir: string;
  /** The manifest entry's name, e.g. "tier1". */
  name: string;
  /** Saves reading the manifest again when loading several models. */
  manifest?: Manifest;
}

/** Reads and verifies one model from the manifest; refuses a file whose sha256 differs. */
export async function loadModel(options: LoadModelOptions): Promise<ModelScorer> {
  const manifest = options.manifest ?? (await loadManifest(options.modelsDir));
  const entry = manifest.models.find((m) => m.name === options.name);
  if (!entry) {
    const known = manifest.models.map((m) => m.name).join(', ');
    throw new ManifestError(`no model named ${options.name} in the manifest (it has ${known})`);
  }
  const path = join(options.modelsDir, entry.file);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new ModelError(`cannot read model file ${path}`, { cause });
  }
  const actual = sha256Hex(bytes);
  if (actual !== entry.sha256) throw new ModelIntegrityError(path, entry.sha256, actual);
  return ModelScorer.create(bytes, entry, options);
}
