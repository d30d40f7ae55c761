import { writeFile } from 'node:fs/promises';
import { type CascadeEntry, type Manifest, modelNamed } from '../../functions/core/manifest';
import { stableJson } from '../../functions/core/stable-json';
import {
  type Calibration,
  CalibrationError,
  type CalibrationObjective,
  type CascadeScores,
  type CurvePoint,
  calibrateCascade,
  calibratedCascadeEntry,
  describeObjective,
  parseObjective,
  runCascade,
} from '../../functions/core/task/calibrate';
import { parseManifest } from '../../functions/inference/model';
import type { LabelledExample } from '../../functions/tasks/definition';
import { CliError, ExitCode } from '../errors';
import type { CliIO } from '../io';
import {
  type LabelledData,
  loadLabelled,
  type ModelsLocation,
  openModel,
  percent,
  readManifest,
  scoreAll,
  truthOf,
} from './models-common';

export interface CalibrateOptions extends ModelsLocation {
  readonly data?: string;
  readonly objective: string;
  /** Model names, cheapest first; default: every cascade the manifest declares. */
  readonly cascade?: string;
  readonly write: boolean;
  readonly points: number;
  readonly batchSize: number;
  readonly format: 'table' | 'json';
}

interface Split {
  readonly name: 'validation' | 'test';
  readonly examples: readonly LabelledExample[];
  readonly truth: Int32Array;
  /** Per model: [N, K] probabilities over the rows every model could score. */
  readonly probabilities: Map<string, Float32Array>;
  /** Per model: ms per row of this pass (encode + session.run + decode, this machine, now). */
  readonly msPerRow: Map<string, number>;
}

/** `inferbus models calibrate <task|manifest>`: the threshold curve and the objective's pick. */
export async function calibrateCommand(
  target: string,
  options: CalibrateOptions,
  io: CliIO,
): Promise<ExitCode> {
  let objective: CalibrationObjective;
  try {
    objective = parseObjective(options.objective);
  } catch (error) {
    throw new CliError(`--objective: ${(error as Error).message}`, ExitCode.Usage);
  }
  const loaded = await readManifest(target, options);
  const { manifest } = loaded;
  const cascades = cascadesToCalibrate(manifest, options.cascade);
  const data = await loadLabelled(manifest.task.id, options);
  if (data.validation.length === 0)
    throw new CliError(`${data.source} has no rows to calibrate on`, ExitCode.Usage);
  const models = [...new Set(cascades.flat())];
  const validation = await scoreSplit(
    'validation',
    data.validation,
    data.source,
    manifest,
    loaded.dir,
    models,
    options,
    io,
  );
  const test =
    data.test && data.test.length > 0
      ? await scoreSplit(
          'test',
          data.test,
          `task ${manifest.task.id}'s test split`,
          manifest,
          loaded.dir,
          models,
          options,
          io,
        )
      : undefined;

  let raw = loaded.raw;
  for (const tiers of cascades) {
    const scores = (split: Split, withCosts: boolean): CascadeScores => ({
      labels: manifest.task.labels,
      ...(manifest.task.positiveLabel === undefined ? {} : { positiveLabel: manifest.task.positiveLabel }),
      truth: split.truth,
      tiers: tiers.map((name) => split.probabilities.get(name) as Float32Array),
      ...(withCosts ? { costs: tiers.map((name) => split.msPerRow.get(name) as number) } : {}),
    });
    let calibration: Calibration;
    try {
      calibration = calibrateCascade(scores(validation, true), objective);
    } catch (error) {
      if (error instanceof CalibrationError) throw new CliError(error.message, ExitCode.Usage);
      throw error;
    }
    const onTest = test ? runCascade(scores(test, false), calibration.thresholds) : undefined;
    const onValidation = runCascade(scores(validation, false), calibration.thresholds);
    if (options.format === 'json') {
      io.out(
        JSON.stringify({
          task: manifest.task.id,
          tiers,
          source: data.source,
          rows: validation.truth.length,
          ...calibration,
          test: onTest && { escalationRate: onTest.escalationRate, metrics: onTest.metrics },
        }),
      );
    } else {
      printCalibration(tiers, calibration, validation, data, options.points, io);
      if (onTest) {
        io.out(
          `  on the test split (${test?.truth.length} rows): escalates ${percent(onTest.escalationRate)}, accuracy ${percent(onTest.metrics.accuracy)}` +
            (onTest.metrics.f1 === undefined
              ? ''
              : `, F1(${manifest.task.positiveLabel}) ${onTest.metrics.f1.toFixed(4)}`),
        );
      }
      if (!calibration.met) {
        io.err(
          `warning: no threshold of ${tiers.join(' -> ')} meets "${describeObjective(objective, calibration.f1Of)}" on ${data.source}; picked the most accurate point instead`,
        );
      }
    }
    // Measurements are stored for the task's own splits only, where "validation" and "test" mean what they say.
    const measured = onTest ? { validation: onValidation, test: onTest } : { source: data.source };
    raw = withCascade(raw, calibratedCascadeEntry(tiers, calibration, measured));
  }
  if (options.write) {
    parseManifest(raw, loaded.path); // refuses to write what serving would refuse to read
    await writeFile(loaded.path, stableJson(raw));
    io.out(`wrote the calibrated threshold(s) to ${loaded.path}`);
  } else if (options.format === 'table') {
    io.out('(dry run: pass --write to store the threshold(s) in the manifest)');
  }
  return ExitCode.Ok;
}

function cascadesToCalibrate(manifest: Manifest, option: string | undefined): string[][] {
  if (option !== undefined) {
    const tiers = option.split(',').map((s) => s.trim());
    if (tiers.length < 2) {
      throw new CliError(
        `--cascade needs at least two model names, cheapest first (e.g. tier1,tier2), got "${option}"`,
        ExitCode.Usage,
      );
    }
    for (const name of tiers) {
      try {
        modelNamed(manifest, name);
      } catch (error) {
        throw new CliError(`--cascade: ${(error as Error).message}`, ExitCode.Usage);
      }
    }
    return [tiers];
  }
  if (manifest.cascades.length === 0) {
    throw new CliError(
      `task ${manifest.task.id}'s manifest declares no cascade; name its tiers with --cascade <cheapest>,<next>,...`,
      ExitCode.Usage,
    );
  }
  return manifest.cascades.map((c) => [...c.tiers]);
}

async function scoreSplit(
  name: 'validation' | 'test',
  examples: readonly LabelledExample[],
  source: string,
  manifest: Manifest,
  dir: string,
  models: readonly string[],
  options: CalibrateOptions,
  io: CliIO,
): Promise<Split> {
  const truth = truthOf(examples, manifest.task.labels, source);
  const inputs = examples.map((e) => e.input);
  const scored = new Map<string, { probabilities: Float32Array; ms: number }>();
  const refused = new Set<number>();
  for (const model of models) {
    const scorer = await openModel(dir, modelNamed(manifest, model), manifest);
    try {
      const result = await scoreAll(scorer, inputs, options.batchSize);
      for (const index of result.rejected.keys()) refused.add(index);
      scored.set(model, result);
    } finally {
      await scorer.release();
    }
  }
  // A row some tier cannot score never reaches a cascade decision in serving (it is dead-lettered).
  const keep = examples.map((_, i) => i).filter((i) => !refused.has(i));
  if (refused.size > 0 && options.format === 'table') {
    io.err(
      `note: ${refused.size} of ${examples.length} rows of ${source} encode to nothing some model can score; left out`,
    );
  }
  if (keep.length === 0)
    throw new CliError(`no row of ${source} can be scored by every model`, ExitCode.Usage);
  const k = manifest.task.labels.length;
  const probabilities = new Map<string, Float32Array>();
  const msPerRow = new Map<string, number>();
  for (const [model, result] of scored) {
    const rows = new Float32Array(keep.length * k);
    keep.forEach((from, to) => {
      rows.set(result.probabilities.subarray(from * k, (from + 1) * k), to * k);
    });
    probabilities.set(model, rows);
    msPerRow.set(model, result.ms / examples.length);
  }
  return {
    name,
    examples: keep.map((i) => examples[i] as LabelledExample),
    truth: Int32Array.from(keep, (i) => truth[i] as number),
    probabilities,
    msPerRow,
  };
}

function printCalibration(
  tiers: readonly string[],
  calibration: Calibration,
  validation: Split,
  data: LabelledData,
  points: number,
  io: CliIO,
): void {
  const f1Name = calibration.f1Of === undefined ? 'macro-F1' : `F1(${calibration.f1Of})`;
  const last = tiers.at(-1) as string;
  io.out(
    `cascade ${tiers.join(' -> ')} on ${data.source} (${validation.truth.length} rows); objective: ${describeObjective(calibration.objective, calibration.f1Of)}`,
  );
  io.out(
    `  ${last} alone: accuracy ${percent(calibration.lastTierAlone.accuracy)}, ${f1Name} ${calibration.lastTierAlone.f1.toFixed(4)}; ` +
      `cost per row measured here: ${tiers.map((t) => `${t} ${(validation.msPerRow.get(t) ?? 0).toFixed(4)} ms`).join(', ')}`,
  );
  calibration.curves.forEach((curve, position) => {
    const chosen = calibration.chosen[position] as CurvePoint;
    if (calibration.curves.length > 1)
      io.out(`  threshold of ${tiers[position]} (over ${tiers.slice(position + 1).join(' -> ')}):`);
    io.out(`  ${['threshold', 'escalated', 'accuracy', f1Name, `share of ${last} compute`].join('  ')}`);
    for (const point of sampleCurve(curve, chosen, points)) {
      io.out(
        `  ${String(point.threshold).padEnd(9)}  ${percent(point.escalationRate).padStart(9)}  ${percent(point.accuracy).padStart(8)}  ` +
          `${point.f1.toFixed(4).padStart(f1Name.length)}  ${(point.computeShare === undefined ? '-' : percent(point.computeShare, 1)).padStart(8)}` +
          (point === chosen ? '   <- chosen' : ''),
      );
    }
  });
  io.out(`  chosen threshold(s): ${calibration.thresholds.join(', ')}`);
}

/**
 * At most `count` points of the curve: its ends, the chosen one, then the points where accuracy or
 * F1 changes (cheapest first: where the trade-off is), then evenly spread ones.
 */
export function sampleCurve(curve: readonly CurvePoint[], chosen: CurvePoint, count: number): CurvePoint[] {
  if (curve.length <= count) return [...curve];
  const picked = new Set<CurvePoint>([curve[0] as CurvePoint, chosen, curve.at(-1) as CurvePoint]);
  curve.forEach((point, i) => {
    const previous = curve[i - 1];
    const changes =
      previous !== undefined && (point.correct !== previous.correct || point.f1 !== previous.f1);
    if (changes && picked.size < count) picked.add(point);
  });
  for (let i = 1; picked.size < count && i < count; i++) {
    picked.add(curve[Math.round((i * (curve.length - 1)) / count)] as CurvePoint);
  }
  return curve.filter((p) => picked.has(p));
}

/** The raw manifest with this cascade's entry replaced (or added), its other fields untouched. */
function withCascade(raw: Record<string, unknown>, entry: CascadeEntry): Record<string, unknown> {
  const cascades = [...((raw.cascades as CascadeEntry[] | undefined) ?? [])];
  const at = cascades.findIndex(
    (c) => c.tiers.length === entry.tiers.length && c.tiers.every((t, i) => t === entry.tiers[i]),
  );
  if (at >= 0) cascades[at] = entry;
  else cascades.push(entry);
  return { ...raw, cascades };
}
