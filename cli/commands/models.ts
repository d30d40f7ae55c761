import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Manifest } from '../../functions/core/manifest';
import { TASK_ID_PATTERN } from '../../functions/core/manifest';
import { type ManifestV1, migrateManifestV1 } from '../../functions/core/manifest-v1';
import { stableJson } from '../../functions/core/stable-json';
import { OBJECTIVE_SYNTAX } from '../../functions/core/task/calibrate';
import { MANIFEST_FILE, parseManifest, sha256Hex } from '../../functions/inference/model';
import { CliError, ExitCode } from '../errors';
import type { CliIO } from '../io';
import { type AddOptions, addCommand } from './models-add';
import { type CalibrateOptions, calibrateCommand } from './models-calibrate';
import { defaultModelsDir, type ModelsLocation } from './models-common';
import { type ValidateOptions, validateCommand } from './models-validate';

/** `inferbus models ...`: what a user needs to add a model or a task without reading the source. */
export function addModelsCommand(program: Command, io: CliIO, setExitCode: (code: ExitCode) => void): void {
  const models = program
    .command('models')
    .description("Check, calibrate, migrate and list the tasks' models (models/<task>/manifest.json)")
    .addHelpText(
      'after',
      `
A task's models live in models/<task>/: manifest.json (schema v2: the task's labels and input, and per
model the file, sha256, input tensors, encoder and output kind) and the .onnx files it names. Its
labelled data (for calibrate and validate) is functions/tasks/<task>/: task.ts, or train.ndjson,
validation.ndjson and test.ndjson with one {"id", "label", "text"} or {"id", "label", "features": [...]}
object per line.

Adding a model:
  inferbus models add <task> model.onnx --name <model> --output-kind probabilities
  inferbus models validate <task> <model>   # names every field where the entry and the file disagree
  inferbus models calibrate <task> --write  # picks and stores the cascade threshold(s)
  inferbus models list                      # what the stage can route to`,
    );
  const location = (command: Command) =>
    command
      .option('--models-dir <dir>', "folder of the tasks' model folders (default: the package's models/)")
      .option(
        '--tasks-dir <dir>',
        "folder of the tasks' dataset folders (default: the package's functions/tasks/)",
      );

  location(
    models
      .command('validate')
      .description(
        'Check model files against their manifest entries: sha256, size, opset, graph inputs/outputs, encoder, one real batch, latency',
      )
      .argument('<task>', 'task id (models/<task>/manifest.json) or a manifest file')
      .argument('[model]', 'one model name (default: every model of the task)'),
  )
    .option('--batch-size <n>', 'inputs in the batch scored', positiveInt, 32)
    .option('--runs <n>', 'timed runs of the batch (the median is reported)', positiveInt, 5)
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .addHelpText(
      'after',
      `
For each model: the file's sha256, size and opset; the ONNX graph's input and output names, dtypes and
shapes (a named dimension like "N" must be dynamic in the graph); the encoder's fingerprint and
parameters; one batch from the task's validation split (synthetic inputs of the task's kind when it
has no dataset) scored and decoded, every row checked to be a probability distribution; the median
latency of the batch. Each mismatch is a line naming the field, the manifest's value and the
file's. Exit 0 when every model matches, 1 on any mismatch, 2 on bad usage.

Examples:
  inferbus models validate spam
  inferbus models validate sensor tier1 --format json
  inferbus models validate ./candidate/manifest.json`,
    )
    .action(async (target: string, model: string | undefined, options: ValidateOptions) =>
      setExitCode(await validateCommand(target, model, options, io)),
    );

  location(
    models
      .command('calibrate')
      .description("Choose cascade thresholds on labelled data: prints the curve and the objective's pick")
      .argument('<task>', 'task id (models/<task>/manifest.json) or a manifest file'),
  )
    .option('--data <file.ndjson>', "labelled rows (default: the task's validation split)")
    .option('--objective <objective>', `how to choose: ${OBJECTIVE_SYNTAX}`, 'match-last-tier')
    .option(
      '--cascade <models>',
      "tiers to calibrate, cheapest first, e.g. tier1,tier2 (default: the manifest's cascades)",
    )
    .option('--write', "store the thresholds in the manifest's cascade entry", false)
    .option('--points <n>', 'curve rows to print (the chosen one always among them)', positiveInt, 15)
    .option('--batch-size <n>', 'inputs per session.run', positiveInt, 64)
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .addHelpText(
      'after',
      `
Each tier but the last answers when its confidence (the top label's probability) reaches its
threshold, else escalates: thresholds lie in [1/K, 1]; 1/K escalates nothing. The curve lists every
threshold that changes what is escalated, with the escalation rate, accuracy, F1 (on the task's
positive label, macro-F1 without one) and compute share (cost per row against the last tier alone,
measured on this machine). Objectives:
  match-last-tier       the cheapest threshold whose accuracy is at least the last tier's alone (default)
  max-accuracy          the most accurate threshold, the cheaper on ties
  max-escalation=<r>    the most accurate threshold escalating at most r (0..1) of the rows
  f1                    the best F1 on the positive label (rare classes), the cheaper on ties
With the task's own splits, --write also stores the escalation rate and metrics on validation and
test; with --data it stores the thresholds and the objective only.

Examples:
  inferbus models calibrate spam
  inferbus models calibrate sensor --objective f1 --write
  inferbus models calibrate spam --data labelled.ndjson --objective max-escalation=0.05`,
    )
    .action(async (target: string, options: CalibrateOptions) =>
      setExitCode(await calibrateCommand(target, options, io)),
    );

  location(
    models
      .command('add')
      .description(
        "Add a model file to a task's manifest: tensors, sha256, size and opset read from the file",
      )
      .argument('<task>', 'task id (models/<task>/manifest.json) or a manifest file')
      .argument('<file.onnx>', 'the model; copied beside the manifest'),
  )
    .requiredOption(
      '--name <name>',
      'the model name in the manifest (lowercase letters, digits, "-"), e.g. tier3',
    )
    .addOption(
      new Option(
        '--output-kind <kind>',
        'what the output holds (default: sigmoid-binary for an [N] output over 2 labels)',
      ).choices(['sigmoid-binary', 'probabilities', 'logits']),
    )
    .option('--encoder-from <model>', "reuse another model's encoder (required for text tasks)")
    .addOption(
      new Option('--precision <precision>', "the weights' precision")
        .choices(['float32', 'float16', 'int8'])
        .default('float32'),
    )
    .option('--force', 'replace an entry or file of the same name', false)
    .option('--labels <a,b,...>', "a new task: its labels, in the model's output order")
    .option('--input <kind>', 'a new task: its input, "text" or "features:<length>"')
    .option('--description <text>', 'a new task: what it does, for people')
    .addHelpText(
      'after',
      `
A task without a manifest is started by its first model: give --labels and --input, and
models/<task>/manifest.json is written with the task and that model.
The entry's inputs and output (names, dtypes, shapes) come from the graph, sha256, size and opset
from the file. The encoder is --encoder-from's, or for a features task the identity over the task's
vector (edit center/scale/select in the manifest if the model was trained on standardised inputs).
Metrics are left out: calibrate measures the cascade, and validate checks the entry.

Examples:
  inferbus models add sensor ./tier3.onnx --name tier3 --output-kind probabilities
  inferbus models add spam ./distilled.onnx --name tier2-small --encoder-from tier2
  inferbus models add iris ./iris.onnx --name tier1 --labels setosa,versicolor,virginica \\
    --input features:4 --output-kind probabilities          # a new task`,
    )
    .action(async (target: string, file: string, options: AddOptions) =>
      setExitCode(await addCommand(target, file, options, io)),
    );

  models
    .command('migrate')
    .description('Write the schema v2 manifest of a v1 one (the spam/ham manifest before tasks), validated')
    .argument('<manifest>', 'the v1 manifest.json')
    .requiredOption('--task <id>', 'the task id (1-12 lowercase letters and digits), e.g. spam', taskId)
    .option('--out <file>', 'where to write it (default: <task>/manifest.json beside the v1 file)')
    .option('--force', 'overwrite an existing file at --out', false)
    .addHelpText(
      'after',
      `
The v2 manifest is checked before it is written, and the model files it names are copied beside it
when they are not there yet (their sha256 checked against the manifest).

Example:
  inferbus models migrate models/manifest.json --task spam   # writes models/spam/manifest.json`,
    )
    .action(async (file: string, options: { task: string; out?: string; force: boolean }) =>
      setExitCode(await migrateCommand(file, options, io)),
    );

  location(
    models.command('list').description('Tasks, their labels and input, models and cascades with thresholds'),
  )
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (options: ModelsLocation & { format: 'table' | 'json' }) =>
      setExitCode(await listCommand(options, io)),
    );
}

async function migrateCommand(
  file: string,
  options: { task: string; out?: string; force: boolean },
  io: CliIO,
): Promise<ExitCode> {
  const from = resolve(file);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(from, 'utf8'));
  } catch (error) {
    throw new CliError(`cannot read ${file} as JSON: ${(error as Error).message}`, ExitCode.Usage);
  }
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (version !== 1) {
    throw new CliError(
      `${file} has schemaVersion ${JSON.stringify(version)}; migrate reads schema v1 manifests`,
      ExitCode.Usage,
    );
  }
  const out = resolve(options.out ?? join(dirname(from), options.task, MANIFEST_FILE));
  if (existsSync(out) && !options.force) {
    throw new CliError(
      `${out} exists; pass --force to overwrite it or --out <file> to write elsewhere`,
      ExitCode.Usage,
    );
  }
  let manifest: Manifest;
  try {
    manifest = parseManifest(migrateManifestV1(raw as ManifestV1, options.task), out);
  } catch (error) {
    throw new CliError(
      `${file} does not migrate to a valid v2 manifest: ${(error as Error).message}`,
      ExitCode.Failed,
    );
  }
  await mkdir(dirname(out), { recursive: true });
  const copied: string[] = [];
  for (const model of manifest.models) {
    const target = join(dirname(out), model.file);
    if (existsSync(target)) continue;
    const source = join(dirname(from), model.file);
    if (!existsSync(source)) {
      throw new CliError(
        `model ${model.name}: neither ${target} nor ${source} exists; copy ${model.file} beside ${out}`,
      );
    }
    const actual = sha256Hex(await readFile(source));
    if (actual !== model.sha256) {
      throw new CliError(
        `model ${model.name}: ${source} has sha256 ${actual}, the manifest says ${model.sha256}; not copied`,
      );
    }
    await copyFile(source, target);
    copied.push(model.file);
  }
  await writeFile(out, stableJson(manifest));
  io.out(
    `wrote ${relative(process.cwd(), out) || out} (schema v2, task ${options.task}, ${manifest.models.length} models, ${manifest.cascades.length} cascades)` +
      (copied.length > 0 ? `; copied ${copied.join(', ')} beside it` : ''),
  );
  io.out(`next: inferbus models validate ${out}`);
  return ExitCode.Ok;
}

async function listCommand(
  options: ModelsLocation & { format: 'table' | 'json' },
  io: CliIO,
): Promise<ExitCode> {
  const dir = resolve(options.modelsDir ?? defaultModelsDir());
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (error) {
    throw new CliError(`cannot list ${dir}: ${(error as Error).message}`, ExitCode.Usage);
  }
  let problems = 0;
  let found = 0;
  const stray = join(dir, MANIFEST_FILE);
  if (existsSync(stray)) {
    // A manifest at the top is the single-task layout before tasks (schema v1).
    io.err(
      `${stray}: not in a task folder; a v1 manifest migrates with inferbus models migrate ${stray} --task <id>`,
    );
  }
  for (const name of names) {
    const path = join(dir, name, MANIFEST_FILE);
    if (!existsSync(path)) continue;
    found++;
    let manifest: Manifest;
    try {
      manifest = parseManifest(JSON.parse(await readFile(path, 'utf8')), path);
    } catch (error) {
      problems++;
      io.err(`${name}: ${(error as Error).message}`);
      continue;
    }
    if (options.format === 'json') {
      io.out(JSON.stringify(summary(manifest)));
      continue;
    }
    const { task } = manifest;
    const input = task.input.kind === 'text' ? 'text' : `features (${task.input.length} numbers)`;
    io.out(`${task.id}: ${task.description}`);
    io.out(
      `  labels: ${task.labels.map((l) => (l === task.positiveLabel ? `${l} (positive)` : l)).join(', ')}; input: ${input}`,
    );
    for (const model of manifest.models) {
      const accuracy = model.metrics?.test.accuracy;
      io.out(
        `  model ${model.name}: ${model.file}, ${model.bytes} bytes, ${model.precision}, encoder ${model.encoder.kind}, output ${model.output.kind}` +
          (accuracy === undefined ? '' : `, test accuracy ${(accuracy * 100).toFixed(2)}%`),
      );
    }
    for (const cascade of manifest.cascades) {
      const escalation = cascade.escalationRate?.test;
      io.out(
        `  cascade ${cascade.tiers.join(' -> ')}: threshold(s) ${cascade.thresholds.join(', ')}` +
          (escalation === undefined ? '' : `, escalates ${(escalation * 100).toFixed(2)}% of test`) +
          (cascade.objective === undefined ? '' : ` (${cascade.objective})`),
      );
    }
  }
  if (found === 0) {
    io.err(`no task manifests under ${dir} (models/<task>/manifest.json)`);
  }
  return problems === 0 ? ExitCode.Ok : ExitCode.Failed;
}

function summary(manifest: Manifest) {
  return {
    task: manifest.task.id,
    labels: manifest.task.labels,
    positiveLabel: manifest.task.positiveLabel,
    input: manifest.task.input,
    models: manifest.models.map((m) => ({
      name: m.name,
      file: m.file,
      bytes: m.bytes,
      precision: m.precision,
      encoder: m.encoder.kind,
      output: m.output.kind,
    })),
    cascades: manifest.cascades.map((c) => ({
      tiers: c.tiers,
      thresholds: c.thresholds,
      objective: c.objective,
    })),
  };
}

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new InvalidArgumentError('expected a whole number > 0');
  return parsed;
}

function taskId(value: string): string {
  if (!TASK_ID_PATTERN.test(value)) {
    throw new InvalidArgumentError('task ids are 1-12 lowercase letters and digits, starting with a letter');
  }
  return value;
}
