import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { featureFingerprint } from '../../functions/core/features';
import type { Manifest, ModelEntry } from '../../functions/core/manifest';
import { checkEncoder, featureSpecOf } from '../../functions/core/task/encoders';
import type { TaskInput } from '../../functions/core/task/inputs';
import {
  type FileFacts,
  type GraphValue,
  type Mismatch,
  modelMismatches,
  nonDistributionRows,
  onnxOpset,
} from '../../functions/core/task/model-check';
import { ModelScorer, sha256Hex } from '../../functions/inference/model';
import { loadTaskDefinition, TASKS_DIR } from '../../functions/tasks/definition';
import { CliError, ExitCode } from '../errors';
import type { CliIO } from '../io';
import { type ModelsLocation, readManifest } from './models-common';

export interface ValidateOptions extends ModelsLocation {
  readonly format: 'table' | 'json';
  readonly batchSize: number;
  readonly runs: number;
}

export interface ModelReport {
  readonly model: string;
  readonly file: string;
  readonly ok: boolean;
  readonly mismatches: Mismatch[];
  readonly sha256?: string;
  readonly bytes?: number;
  readonly opset?: number;
  readonly inputs?: GraphValue[];
  readonly outputs?: GraphValue[];
  /** The batch scored: where its inputs came from and how many. */
  readonly batch?: { source: string; size: number; rejected: number };
  /** Median over `runs` of one `score` call on the batch (encode + session.run + decode). */
  readonly latencyMs?: { median: number; runs: number; perRow: number };
}

/** `inferbus models validate <task|manifest> [model]`: every model entry against its file. */
export async function validateCommand(
  target: string,
  modelName: string | undefined,
  options: ValidateOptions,
  io: CliIO,
): Promise<ExitCode> {
  const { manifest, dir } = await readManifest(target, options);
  const entries =
    modelName === undefined ? manifest.models : manifest.models.filter((m) => m.name === modelName);
  if (entries.length === 0) {
    throw new CliError(
      `task ${manifest.task.id} has no model named ${modelName} (it has ${manifest.models.map((m) => m.name).join(', ')})`,
      ExitCode.Usage,
    );
  }
  const batch = await sampleBatch(manifest, options);
  const reports: ModelReport[] = [];
  for (const entry of entries) reports.push(await validateModel(entry, manifest, dir, batch, options));
  for (const report of reports) print(report, options.format, io);
  const failed = reports.filter((r) => !r.ok).length;
  if (options.format === 'table') {
    io.out(
      failed === 0
        ? `${reports.length} model(s) of task ${manifest.task.id} match the manifest`
        : `${failed} of ${reports.length} model(s) of task ${manifest.task.id} do not match the manifest: fix the entry (or retrain/re-export the file) and validate again`,
    );
  }
  return failed === 0 ? ExitCode.Ok : ExitCode.Failed;
}

async function validateModel(
  entry: ModelEntry,
  manifest: Manifest,
  dir: string,
  batch: { source: string; inputs: TaskInput[] },
  options: ValidateOptions,
): Promise<ModelReport> {
  const path = join(dir, entry.file);
  const base = { model: entry.name, file: path };
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const mismatch = {
      field: 'file',
      manifest: entry.file,
      file: `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    };
    return { ...base, ok: false, mismatches: [mismatch] };
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (error) {
    const mismatch = {
      field: 'file',
      manifest: 'an ONNX model',
      file: `onnxruntime cannot load it: ${firstLine(error)}`,
    };
    const facts = { sha256: sha256Hex(bytes), bytes: bytes.length };
    const mismatches = [
      ...(facts.sha256 === entry.sha256
        ? []
        : [{ field: 'sha256', manifest: entry.sha256, file: facts.sha256 }]),
      mismatch,
    ];
    return { ...base, ...facts, ok: false, mismatches };
  }
  const facts: FileFacts = {
    sha256: sha256Hex(bytes),
    bytes: bytes.length,
    ...withOpset(onnxOpset(bytes)),
    inputs: session.inputMetadata.map(graphValue),
    outputs: session.outputMetadata.map(graphValue),
  };
  await session.release();
  const mismatches = [...modelMismatches(entry, facts), ...encoderMismatches(entry)];
  const report = {
    ...base,
    sha256: facts.sha256,
    bytes: facts.bytes,
    ...withOpset(facts.opset),
    inputs: [...facts.inputs],
    outputs: [...facts.outputs],
  };
  // Scoring a file that differs in structure only repeats the mismatch as an onnxruntime error.
  if (mismatches.some((m) => !['sha256', 'bytes', 'opset'].includes(m.field)))
    return { ...report, ok: false, mismatches };
  try {
    const scorer = await ModelScorer.create(bytes, entry, manifest.task);
    try {
      const run = await measure(scorer, batch, manifest.task.labels.length, options.runs);
      mismatches.push(...run.mismatches);
      return {
        ...report,
        ok: mismatches.length === 0,
        mismatches,
        batch: run.batch,
        latencyMs: run.latencyMs,
      };
    } finally {
      await scorer.release();
    }
  } catch (error) {
    mismatches.push({ field: 'scoring', manifest: 'a batch scores', file: firstLine(error) });
    return { ...report, ok: false, mismatches };
  }
}

async function measure(
  scorer: ModelScorer,
  batch: { source: string; inputs: TaskInput[] },
  labelCount: number,
  runs: number,
): Promise<Pick<ModelReport, 'batch' | 'latencyMs'> & { mismatches: Mismatch[] }> {
  const timings: number[] = [];
  let last = await scorer.score(batch.inputs);
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    last = await scorer.score(batch.inputs);
    timings.push(performance.now() - started);
  }
  const mismatches: Mismatch[] = [];
  const rejected = new Set(last.rejected.keys());
  const bad = nonDistributionRows(last.probabilities, labelCount, rejected);
  if (bad.length > 0) {
    mismatches.push({
      field: 'output probabilities',
      manifest: `a distribution over ${labelCount} labels per row (output kind ${scorer.entry.output.kind})`,
      file: `rows ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', ...' : ''} (${bad.length} of ${batch.inputs.length}) are not`,
    });
  }
  if (rejected.size === batch.inputs.length) {
    mismatches.push({
      field: 'encoder',
      manifest: `encodes ${batch.source}`,
      file: `refused every input (${[...last.rejected.values()][0]})`,
    });
  }
  const median = medianOf(timings);
  return {
    mismatches,
    batch: { source: batch.source, size: batch.inputs.length, rejected: rejected.size },
    latencyMs: { median: round(median, 3), runs, perRow: round(median / batch.inputs.length, 4) },
  };
}

function encoderMismatches(entry: ModelEntry): Mismatch[] {
  const { encoder } = entry;
  if (encoder.kind === 'hashed-bag') {
    const actual = featureFingerprint(featureSpecOf(encoder));
    if (actual !== encoder.fingerprint) {
      return [
        {
          field: 'encoder fingerprint',
          manifest: encoder.fingerprint,
          file: `${actual} (what this build's extractor computes from the manifest's params)`,
        },
      ];
    }
  }
  try {
    checkEncoder(entry.name, encoder, entry.inputs);
    return [];
  } catch (error) {
    return [{ field: 'encoder', manifest: encoder.kind, file: firstLine(error) }];
  }
}

/** Up to `batchSize` inputs of the task's validation split, else synthetic inputs of the declared kind. */
async function sampleBatch(
  manifest: Manifest,
  options: ValidateOptions,
): Promise<{ source: string; inputs: TaskInput[] }> {
  const { task } = manifest;
  try {
    const definition = await loadTaskDefinition(task.id, options.tasksDir ?? TASKS_DIR);
    const { validation } = await definition.loadSplits();
    if (validation.length > 0) {
      return {
        source: `task ${task.id}'s validation split`,
        inputs: validation.slice(0, options.batchSize).map((e) => e.input),
      };
    }
  } catch {
    // No dataset for this task (a model brought alone): synthetic inputs below.
  }
  const size = options.batchSize;
  if (task.input.kind === 'text') {
    const texts = [
      'Subject: meeting notes\n\nThe notes from Tuesday are attached, see you next week.',
      'WIN a FREE cruise now!!! Click here to claim your prize before midnight',
      'Your invoice for order 1234 is attached; payment is due in 30 days.',
      'hello',
    ];
    return {
      source: 'synthetic text',
      inputs: Array.from({ length: size }, (_, i) => ({ text: texts[i % texts.length] as string })),
    };
  }
  const { length } = task.input;
  // Deterministic values around 0 of a few magnitudes: enough to exercise the graph end to end.
  return {
    source: 'synthetic feature vectors',
    inputs: Array.from({ length: size }, (_, row) => ({
      features: Array.from({ length }, (_, col) => Math.sin(row * 7.3 + col * 1.7) * (1 + (row % 3) * 10)),
    })),
  };
}

function graphValue(value: ort.InferenceSession.ValueMetadata): GraphValue {
  return value.isTensor
    ? { name: value.name, dtype: value.type, shape: [...value.shape] }
    : { name: value.name, dtype: undefined, shape: [] };
}

function print(report: ModelReport, format: 'table' | 'json', io: CliIO): void {
  if (format === 'json') {
    io.out(JSON.stringify(report));
    return;
  }
  io.out(
    `${report.model} (${report.file}): ${report.ok ? 'ok' : `${report.mismatches.length} mismatch(es)`}`,
  );
  if (report.sha256 !== undefined) {
    io.out(
      `  sha256 ${report.sha256}, ${report.bytes} bytes${report.opset === undefined ? '' : `, opset ${report.opset}`}`,
    );
  }
  const tensors = (values: GraphValue[] | undefined) =>
    (values ?? []).map((v) => `${v.name} ${v.dtype ?? '?'} [${v.shape.join(', ')}]`).join('; ');
  if (report.inputs) io.out(`  graph inputs: ${tensors(report.inputs)}; outputs: ${tensors(report.outputs)}`);
  if (report.batch && report.latencyMs) {
    io.out(
      `  scored ${report.batch.size} inputs from ${report.batch.source}${report.batch.rejected > 0 ? ` (${report.batch.rejected} refused by the encoder)` : ''}: ` +
        `median ${report.latencyMs.median} ms per batch over ${report.latencyMs.runs} runs (${report.latencyMs.perRow} ms per input)`,
    );
  }
  for (const m of report.mismatches) io.out(`  MISMATCH ${m.field}: manifest ${m.manifest}, file ${m.file}`);
}

const withOpset = (opset: number | undefined) => (opset === undefined ? {} : { opset });

const firstLine = (error: unknown): string => String((error as Error).message ?? error).split('\n')[0] ?? '';

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
