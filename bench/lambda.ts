/**
 * Local Lambda runner overhead with a trivial CommonJS handler:
 * - cold start: process spawn to handler ready (Node boot + bootstrap + module load), and the
 *   first invocation's total latency as a caller sees it;
 * - warm invoke: sequential round trips on one warm worker (IPC + JSON), and throughput with two
 *   workers invoked concurrently.
 *
 * Run: npx tsx bench/lambda.ts [--quick]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { LambdaRunner } from '../local/lambda/runner.js';
import type { FunctionModel } from '../local/model.js';

export interface LambdaBenchResult {
  name: 'lambda';
  node: string;
  coldStart: { runs: number; spawnToReadyMs: Stats; firstInvokeMs: Stats; moduleLoadMs: Stats };
  warm: { invocations: number; roundTripUs: Stats; perSecond: number };
  concurrent: { workers: number; invocations: number; perSecond: number };
}

export interface Stats {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(sorted[sorted.length - 1] ?? 0) };
}

const round = (value: number) => Math.round(value * 100) / 100;

/** A cdk.out-like asset below a "type": "module" package.json, as in the repository. */
function makeFunction(root: string): FunctionModel {
  writeFileSync(join(root, 'package.json'), '{"type":"module"}');
  const assetDir = join(root, 'cdk.out', 'asset.bench');
  mkdirSync(assetDir, { recursive: true });
  writeFileSync(join(assetDir, 'index.js'), 'exports.handler = async (event) => ({ n: event.n });\n');
  return {
    logicalId: 'Bench',
    name: 'bench',
    arn: 'arn:aws:lambda:us-east-1:000000000000:function:bench',
    assetDir,
    handler: 'index.handler',
    runtime: 'nodejs22.x',
    environment: {},
    timeoutSeconds: 10,
    memoryMiB: 128,
    layerDirs: [],
  };
}

export async function runLambdaBench({ quick = false } = {}): Promise<LambdaBenchResult> {
  const root = mkdtempSync(join(tmpdir(), 'inferbus-lambda-bench-'));
  const fn = makeFunction(root);
  const quiet = { logSink: () => {}, reportLines: false };
  try {
    const coldRuns = quick ? 5 : 20;
    const spawnToReady: number[] = [];
    const firstInvoke: number[] = [];
    const moduleLoad: number[] = [];
    for (let i = 0; i < coldRuns; i++) {
      const runner = new LambdaRunner([fn], quiet);
      const started = performance.now();
      const result = await runner.invoke(fn.logicalId, { n: i });
      firstInvoke.push(performance.now() - started);
      if (!result.ok) throw new Error(`bench handler failed: ${result.errorType}: ${result.errorMessage}`);
      const [metrics] = runner.metrics();
      spawnToReady.push(metrics?.coldStartMs.sumMs ?? Number.NaN);
      moduleLoad.push(metrics?.initMs.sumMs ?? Number.NaN);
      await runner.close();
    }

    const warmCount = quick ? 500 : 5_000;
    const runner = new LambdaRunner([fn], { ...quiet, maxWorkersPerFunction: 2 });
    await runner.invoke(fn.logicalId, { n: -1 });
    const roundTrips: number[] = [];
    const warmStarted = performance.now();
    for (let i = 0; i < warmCount; i++) {
      const started = performance.now();
      await runner.invoke(fn.logicalId, { n: i });
      roundTrips.push((performance.now() - started) * 1000);
    }
    const warmPerSecond = Math.round(warmCount / ((performance.now() - warmStarted) / 1000));

    await Promise.all([runner.invoke(fn.logicalId, {}), runner.invoke(fn.logicalId, {})]);
    const concurrentStarted = performance.now();
    await Promise.all(
      [0, 1].map(async () => {
        for (let i = 0; i < warmCount / 2; i++) await runner.invoke(fn.logicalId, { n: i });
      }),
    );
    const concurrentPerSecond = Math.round(warmCount / ((performance.now() - concurrentStarted) / 1000));
    await runner.close();

    return {
      name: 'lambda',
      node: process.version,
      coldStart: {
        runs: coldRuns,
        spawnToReadyMs: stats(spawnToReady),
        firstInvokeMs: stats(firstInvoke),
        moduleLoadMs: stats(moduleLoad),
      },
      warm: { invocations: warmCount, roundTripUs: stats(roundTrips), perSecond: warmPerSecond },
      concurrent: { workers: 2, invocations: warmCount, perSecond: concurrentPerSecond },
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runLambdaBench({ quick: process.argv.includes('--quick') });
  const { coldStart, warm, concurrent } = result;
  console.log(`local Lambda runner, trivial CommonJS handler (node ${result.node})`);
  console.log(
    `cold start (${coldStart.runs} runs): spawn->ready p50 ${coldStart.spawnToReadyMs.p50} ms, p90 ${coldStart.spawnToReadyMs.p90} ms; ` +
      `module load p50 ${coldStart.moduleLoadMs.p50} ms; first invoke total p50 ${coldStart.firstInvokeMs.p50} ms`,
  );
  console.log(
    `warm invoke (${warm.invocations} sequential): round trip p50 ${warm.roundTripUs.p50} us, p99 ${warm.roundTripUs.p99} us, ${warm.perSecond}/s`,
  );
  console.log(`2 warm workers concurrently: ${concurrent.perSecond} invocations/s`);
}
