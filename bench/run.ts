/**
 * `npm run bench [-- --quick] [-- --only name,name]`: runs every benchmark side by side in one
 * process, writes `bench/results/<date>.json` and rewrites `BENCHMARKS.md` from it.
 * Timings are never asserted in tests; targets are reported here, met or missed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { renderBenchmarks } from './report';

export interface BenchDefinition {
  readonly name: string;
  readonly run: (options: { quick: boolean }) => Promise<unknown>;
}

const BENCHES: readonly BenchDefinition[] = [
  { name: 'inference', run: async (o) => (await import('./inference')).runInferenceBench(o) },
  { name: 'patterns', run: async (o) => (await import('./patterns')).runPatternBench(o) },
];

export interface BenchRun {
  readonly date: string;
  readonly quick: boolean;
  readonly machine: { cores: number; cpu: string; memoryGiB: number; node: string; platform: string };
  readonly results: Record<string, unknown>;
  readonly errors: Record<string, string>;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help')) {
    console.log('usage: npm run bench [-- --quick] [-- --only inference,patterns]\n');
    console.log(`benchmarks: ${BENCHES.map((b) => b.name).join(', ')}`);
    return;
  }
  const quick = args.includes('--quick');
  const onlyIndex = args.indexOf('--only');
  const only = onlyIndex >= 0 ? new Set((args[onlyIndex + 1] ?? '').split(',')) : undefined;
  const run: BenchRun = {
    date: new Date().toISOString(),
    quick,
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 1024 ** 3),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
    },
    results: {},
    errors: {},
  };
  for (const bench of BENCHES) {
    if (only && !only.has(bench.name)) continue;
    const started = performance.now();
    process.stderr.write(`bench ${bench.name}${quick ? ' (quick)' : ''} ...\n`);
    try {
      run.results[bench.name] = await bench.run({ quick });
      process.stderr.write(`bench ${bench.name} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    } catch (error) {
      run.errors[bench.name] = (error as Error).stack ?? String(error);
      process.stderr.write(`bench ${bench.name} FAILED: ${(error as Error).message}\n`);
    }
  }
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${run.date.slice(0, 19).replaceAll(':', '-')}${quick ? '-quick' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`);
  if (!quick) writeFileSync(join(import.meta.dirname, '..', 'BENCHMARKS.md'), renderBenchmarks(run, file));
  console.log(`results: ${file}${quick ? '' : '\nsummary: BENCHMARKS.md'}`);
  if (Object.keys(run.errors).length > 0) process.exitCode = 1;
}

await main();
