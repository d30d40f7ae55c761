import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  MANIFEST_SCHEMA_VERSION,
  type Manifest,
  MODEL_NAME_PATTERN,
  type ModelEntry,
  TASK_ID_PATTERN,
  type TensorInfo,
} from '../../functions/core/manifest';
import { stableJson } from '../../functions/core/stable-json';
import type { EncoderSpec } from '../../functions/core/task/encoders';
import { onnxOpset } from '../../functions/core/task/model-check';
import { OUTPUT_KINDS, type OutputKind } from '../../functions/core/task/outputs';
import { MANIFEST_FILE, parseManifest, sha256Hex } from '../../functions/inference/model';
import { CliError, ExitCode } from '../errors';
import type { CliIO } from '../io';
import { defaultModelsDir, type LoadedManifest, type ModelsLocation, readManifest } from './models-common';

export interface AddOptions extends ModelsLocation {
  readonly name: string;
  readonly outputKind?: string;
  readonly encoderFrom?: string;
  readonly precision: 'float32' | 'float16' | 'int8';
  readonly force: boolean;
  /** A new task (no manifest yet): its labels, comma-separated, in the model's output order. */
  readonly labels?: string;
  /** A new task's input: `text` or `features:<length>`. */
  readonly input?: string;
  /** A new task's description, for people. */
  readonly description?: string;
}

const DTYPES = ['float32', 'int32', 'int64'] as const;

/**
 * `inferbus models add <task> <file.onnx> --name <name>`: the manifest entry of a model file, its
 * tensors, sha256, size and opset read from the file, so nobody types them by hand. The encoder is
 * another model's (`--encoder-from`) or, for a features task, the identity over the task's vector.
 */
export async function addCommand(
  target: string,
  file: string,
  options: AddOptions,
  io: CliIO,
): Promise<ExitCode> {
  const loaded = await readOrStartManifest(target, options);
  const { manifest } = loaded;
  if (!MODEL_NAME_PATTERN.test(options.name)) {
    throw new CliError(
      `--name ${options.name}: model names are lowercase letters, digits and "-"`,
      ExitCode.Usage,
    );
  }
  const existing = manifest.models.findIndex((m) => m.name === options.name);
  if (existing >= 0 && !options.force) {
    throw new CliError(
      `task ${manifest.task.id} already has a model named ${options.name}; pass --force to replace its entry`,
      ExitCode.Usage,
    );
  }
  const source = resolve(file);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(source);
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`, ExitCode.Usage);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes);
  } catch (error) {
    throw new CliError(
      `${file}: onnxruntime cannot load it: ${(error as Error).message.split('\n')[0]}`,
      ExitCode.Usage,
    );
  }
  const inputs = session.inputMetadata.map((v) => tensorOf(v, 'input'));
  if (session.outputMetadata.length !== 1) {
    await session.release();
    throw new CliError(
      `${file} has ${session.outputMetadata.length} outputs (${session.outputNames.join(', ')}); a model entry reads one: export the probabilities or logits alone`,
      ExitCode.Usage,
    );
  }
  const output = tensorOf(session.outputMetadata[0] as ort.InferenceSession.ValueMetadata, 'output');
  await session.release();

  const fileName = basename(source);
  const entry: ModelEntry = {
    name: options.name,
    file: fileName,
    sha256: sha256Hex(bytes),
    bytes: bytes.length,
    ...withOpset(onnxOpset(bytes)),
    precision: options.precision,
    inputs,
    encoder: encoderFor(manifest, options),
    output: { ...output, kind: outputKindOf(output, manifest.task.labels.length, options.outputKind) },
  };
  const models = [...manifest.models];
  if (existing >= 0) models[existing] = entry;
  else models.push(entry);
  const raw = { ...loaded.raw, models };
  try {
    parseManifest(raw, loaded.path);
  } catch (error) {
    throw new CliError(`the entry does not fit the manifest: ${(error as Error).message}`, ExitCode.Usage);
  }
  await mkdir(loaded.dir, { recursive: true });
  const destination = join(loaded.dir, fileName);
  if (resolve(destination) !== source) {
    if (existsSync(destination) && !options.force) {
      throw new CliError(`${destination} exists; pass --force to overwrite it`, ExitCode.Usage);
    }
    await copyFile(source, destination);
  }
  await writeFile(loaded.path, stableJson(raw));
  io.out(`added model ${entry.name} (${fileName}, ${entry.bytes} bytes) to ${loaded.path}`);
  io.out(`next: inferbus models validate ${manifest.task.id} ${entry.name}`);
  const first = manifest.models[0]?.name;
  if (first !== undefined && first !== entry.name) {
    io.out(`then: inferbus models calibrate ${manifest.task.id} --cascade ${first},${entry.name} --write`);
  }
  return ExitCode.Ok;
}

function tensorOf(value: ort.InferenceSession.ValueMetadata, what: 'input' | 'output'): TensorInfo {
  if (!value.isTensor)
    throw new CliError(
      `${what} ${value.name} is not a tensor; inferbus feeds and reads tensors`,
      ExitCode.Usage,
    );
  const dtype = DTYPES.find((d) => d === value.type);
  if (!dtype) {
    throw new CliError(
      `${what} ${value.name} is ${value.type}; inferbus feeds and reads ${DTYPES.join(', ')}`,
      ExitCode.Usage,
    );
  }
  if (value.shape.length === 0) {
    throw new CliError(
      `${what} ${value.name} declares no shape; export the model with its shapes (e.g. [N, 4])`,
      ExitCode.Usage,
    );
  }
  // An unnamed dynamic dimension (no name, or -1) becomes "N".
  const shape = value.shape.map((d) => (typeof d === 'number' ? (d > 0 ? d : 'N') : d === '' ? 'N' : d));
  return { name: value.name, dtype, shape };
}

function outputKindOf(output: TensorInfo, labelCount: number, option: string | undefined): OutputKind {
  if (option !== undefined) {
    const kind = OUTPUT_KINDS.find((k) => k === option);
    if (!kind)
      throw new CliError(`--output-kind ${option}: use one of ${OUTPUT_KINDS.join(', ')}`, ExitCode.Usage);
    return kind;
  }
  const perRow = output.shape.slice(1);
  if (perRow.length === 0 || (perRow.length === 1 && perRow[0] === 1)) {
    if (labelCount === 2) return 'sigmoid-binary';
  }
  throw new CliError(
    `output ${output.name} ${JSON.stringify(output.shape)}: say what it holds with --output-kind probabilities (a softmax inside the graph) or logits`,
    ExitCode.Usage,
  );
}

function encoderFor(manifest: Manifest, options: AddOptions): EncoderSpec {
  if (options.encoderFrom !== undefined) {
    const from = manifest.models.find((m) => m.name === options.encoderFrom);
    if (!from) {
      throw new CliError(
        `--encoder-from ${options.encoderFrom}: task ${manifest.task.id} has ${manifest.models.map((m) => m.name).join(', ')}`,
        ExitCode.Usage,
      );
    }
    return from.encoder;
  }
  const { input } = manifest.task;
  if (input.kind === 'features') {
    // The identity: the model sees the request's vector as sent.
    return {
      kind: 'numeric-vector',
      length: input.length,
      center: new Array<number>(input.length).fill(0),
      scale: new Array<number>(input.length).fill(1),
    };
  }
  throw new CliError(
    `a text model needs its tokenizer's parameters: pass --encoder-from <model> to reuse another model's hashed-bag encoder, or write the encoder in the manifest`,
    ExitCode.Usage,
  );
}

const withOpset = (opset: number | undefined) => (opset === undefined ? {} : { opset });

/**
 * The task's manifest, or, for a task that has none yet and `--labels`/`--input` given, a new one
 * in `<modelsDir>/<task>/` holding only the task (its first model is the one being added).
 */
async function readOrStartManifest(target: string, options: AddOptions): Promise<LoadedManifest> {
  const isTaskId = TASK_ID_PATTERN.test(target);
  const path = join(resolve(options.modelsDir ?? defaultModelsDir()), target, MANIFEST_FILE);
  const starting = options.labels !== undefined || options.input !== undefined;
  if (!isTaskId || existsSync(path)) {
    if (starting && existsSync(path)) {
      throw new CliError(
        `task ${target} already has ${path}; --labels and --input only start a new task (edit the manifest to change a task)`,
        ExitCode.Usage,
      );
    }
    return readManifest(target, options);
  }
  if (options.labels === undefined || options.input === undefined) {
    throw new CliError(
      `task ${target} has no manifest (${path}); to start it, say its labels and input: --labels a,b,c --input features:4 (or --input text)`,
      ExitCode.Usage,
    );
  }
  const labels = options.labels.split(',').map((l) => l.trim());
  const input = parseTaskInput(options.input);
  const raw = {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    task: { id: target, description: options.description ?? `task ${target}`, labels, input },
    models: [],
    cascades: [],
  };
  // Checked with its first model added (a manifest needs one); the task part is checked here.
  if (
    new Set(labels).size !== labels.length ||
    labels.length < 2 ||
    labels.some((l) => !/^[A-Za-z0-9][\w.-]{0,63}$/.test(l))
  ) {
    throw new CliError(
      `--labels ${options.labels}: give 2 or more distinct labels of word characters, comma-separated, in the model's output order`,
      ExitCode.Usage,
    );
  }
  return {
    manifest: raw as unknown as Manifest,
    path,
    dir: dirname(path),
    raw,
  };
}

function parseTaskInput(value: string): Manifest['task']['input'] {
  if (value === 'text') return { kind: 'text' };
  const match = /^features:(\d+)$/.exec(value);
  const length = Number(match?.[1]);
  if (!match || !Number.isInteger(length) || length < 1) {
    throw new CliError(
      `--input ${value}: use "text" or "features:<length>", e.g. features:4`,
      ExitCode.Usage,
    );
  }
  return { kind: 'features', length };
}
