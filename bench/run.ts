/**
 * `npm run bench [-- --quick] [-- --only name,name]`: runs every benchmark side by side in one
 * process (the pipeline and the soak each in a fresh child process), writes
 * `bench/results/<date>.json`, and (full runs) rewrites `BENCHMARKS.md` and `bench/plots/*.svg` from it. Timings are never asserted in tests; targets are reported in
 * BENCHMARKS.md, met or missed.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runIsolated } from './isolated';
import { writePlots } from './plots';
import { chartsFor, renderBenchmarks } from './report';

export interface BenchOptions {
  readonly quick: boolean;
  /** Results of the benchmarks that ran before this one in the same run. */
  readonly results: Readonly<Record<string, unknown>>;
}

export interface BenchDefinition {
  readonly name: string;
  /** Cheap enough for the test's quick smoke run. */
  readonly cheap: boolean;
  readonly run: (options: BenchOptions) => Promise<unknown>;
}

/** In this order: cost uses inference, cascade and archive results. */
export const BENCHES: readonly BenchDefinition[] = [
  { name: 'inference', cheap: true, run: async (o) => (await import('./inference')).runInferenceBench(o) },
  { name: 'cascade', cheap: true, run: async (o) => (await import('./cascade')).runCascadeBench(o) },
  { name: 'coldstart', cheap: false, run: async (o) => (await import('./coldstart')).runColdStartBench(o) },
  // The two that run the local runtime in-process start in a fresh process (see isolated.ts).
  {
    name: 'pipeline',
    cheap: false,
    run: (o) => runIsolated('./pipeline.ts', 'runPipelineBench', { quick: o.quick }),
  },
  // The demo and two pipeline runs each way: a fresh process too.
  { name: 'iam', cheap: false, run: (o) => runIsolated('./iam.ts', 'runIamMeasures', { quick: o.quick }) },
  { name: 'floor', cheap: true, run: async (o) => (await import('./floor')).runFloorBench(o) },
  { name: 'soak', cheap: false, run: (o) => runIsolated('./soak.ts', 'runSoakBench', { quick: o.quick }) },
  { name: 'sqs', cheap: true, run: async (o) => (await import('./sqs')).runSqsBench(o) },
  { name: 'lambda', cheap: true, run: async (o) => (await import('./lambda')).runLambdaBench(o) },
  { name: 'patterns', cheap: true, run: async (o) => (await import('./patterns')).runPatternBench(o) },
  { name: 'archive', cheap: true, run: async (o) => (await import('./archive')).runArchiveBench(o) },
  // About 4 minutes in full (zstd-19 and brotli-11 fill their packs by trial); quick leaves those out.
  { name: 'encoding', cheap: false, run: async (o) => (await import('./encoding')).runEncodingBench(o) },
  {
    name: 'cost',
    cheap: true,
    run: async (o) =>
      (await import('./cost')).runCostBench(
        o.results as Parameters<typeof import('./cost')['runCostBench']>[0],
      ),
  },
];

export interface BenchRun {
  readonly date: string;
  readonly quick: boolean;
  readonly machine: { cores: number; cpu: string; memoryGiB: number; node: string; platform: string };
  readonly results: Record<string, unknown>;
  readonly errors: Record<string, string>;
  readonly seconds: Record<string, number>;
  /** 1-minute load average when each benchmark started and ended (the machines are shared). */
  readonly load: Record<string, { start: number; end: number }>;
}

const round2 = (value: number) => Math.round(value * 100) / 100;

export function machineInfo(): BenchRun['machine'] {
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** Runs the selected benchmarks in order; a failing benchmark is recorded, the others still run. */
export async function runBenches(options: {
  quick: boolean;
  only?: ReadonlySet<string>;
  log?: (line: string) => void;
}): Promise<BenchRun> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const run: BenchRun = {
    date: new Date().toISOString(),
    quick: options.quick,
    machine: machineInfo(),
    results: {},
    errors: {},
    seconds: {},
    load: {},
  };
  for (const bench of BENCHES) {
    if (options.only && !options.only.has(bench.name)) continue;
    const started = performance.now();
    const loadAtStart = round2(loadavg()[0] ?? 0);
    log(`bench ${bench.name}${options.quick ? ' (quick)' : ''} ...`);
    try {
      run.results[bench.name] = await bench.run({ quick: options.quick, results: run.results });
      log(`bench ${bench.name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (error) {
      run.errors[bench.name] = (error as Error).stack ?? String(error);
      log(`bench ${bench.name} FAILED: ${(error as Error).message}`);
    }
    run.seconds[bench.name] = Math.round((performance.now() - started) / 100) / 10;
    run.load[bench.name] = { start: loadAtStart, end: round2(loadavg()[0] ?? 0) };
  }
  return run;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help')) {
    console.log(
      'usage: npm run bench [-- --quick] [-- --only inference,cascade] [-- --render bench/results/<file>.json]\n',
    );
    console.log(`benchmarks: ${BENCHES.map((b) => b.name).join(', ')}`);
    return;
  }
  const renderIndex = args.indexOf('--render');
  if (renderIndex >= 0) {
    // Re-render BENCHMARKS.md and the plots from a saved full run (no measuring).
    const file = resolve(args[renderIndex + 1] ?? '');
    const saved = JSON.parse(readFileSync(file, 'utf8')) as BenchRun;
    if (args.includes('--recompute-cost') && !saved.quick) {
      // Cost is a model over the run's own measurements (no timing of its own): recompute it in place.
      const { runCostBench } = await import('./cost');
      saved.results.cost = await runCostBench(saved.results as Parameters<typeof runCostBench>[0]);
      writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`);
    }
    await writePlots(join(import.meta.dirname, 'plots'), chartsFor(saved));
    writeFileSync(join(import.meta.dirname, '..', 'BENCHMARKS.md'), renderBenchmarks(saved, file));
    console.log(`rendered BENCHMARKS.md and bench/plots/ from ${file}`);
    return;
  }
  const quick = args.includes('--quick');
  const onlyIndex = args.indexOf('--only');
  const only = onlyIndex >= 0 ? new Set((args[onlyIndex + 1] ?? '').split(',')) : undefined;
  const run = await runBenches({ quick, ...(only ? { only } : {}) });
  const root = join(import.meta.dirname, '..');
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${run.date.slice(0, 19).replaceAll(':', '-')}${quick ? '-quick' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`);
  // Quick and partial runs never overwrite the committed report and plots.
  if (!quick && !only) {
    await writePlots(join(import.meta.dirname, 'plots'), chartsFor(run));
    writeFileSync(join(root, 'BENCHMARKS.md'), renderBenchmarks(run, file));
  }
  console.log(`results: ${file}${!quick && !only ? '\nsummary: BENCHMARKS.md, plots: bench/plots/' : ''}`);
  if (Object.keys(run.errors).length > 0) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
