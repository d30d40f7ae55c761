/**
 * Cold start of every function bundle in `cdk.out/`, the way Lambda starts one: a fresh `node`
 * process with the template's environment, the layers on `NODE_PATH` (`/opt/nodejs/node_modules`
 * semantics, `/opt/...` paths pointed at the layer folders; see local/lambda/environment.ts) and the
 * bundle loaded as CommonJS. Timed from spawn (parent clock) to
 * - `handlerReadyMs`: the bundle's module has loaded and exports its handler (no model warm-up:
 *   the handlers start loading their models at module load, and the first invocation would wait);
 * - `warmReadyMs`: the first invocation (an empty SQS batch) returned, i.e. models read, sha256
 *   checked, sessions created and warmed with a dummy run.
 * Also bundle and layer sizes (unzipped; zipped with `zip -r -X` when it is installed) against
 * Lambda's limits. `cdk.out/` is synthesized first (`-c stage=dev`) when missing or stale.
 *
 * Run: npx tsx bench/coldstart.ts [--quick]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { lambdaEnvironment } from '../local/lambda/environment';
import type { FunctionModel } from '../local/model';
import { ensureSynthesized, loadTemplateModel } from '../local/template';
import { round, roundSummary, type Summary, summarize } from './stats';

export const LAMBDA_UNZIPPED_LIMIT = 250 * 1024 ** 2;
export const LAMBDA_ZIPPED_DIRECT_LIMIT = 50 * 1024 ** 2;

export interface AssetSize {
  asset: string;
  unzippedBytes: number;
  zippedBytes?: number;
  files: number;
  /** index.js alone (bundles), source map excluded. */
  codeBytes?: number;
  sourceMapBytes?: number;
}

export interface ColdStartRow {
  function: string;
  logicalId: string;
  handler: string;
  memoryMiB: number;
  runs: number;
  /** Spawn to the child's first line of JS (Node boot). */
  nodeBootMs: Summary;
  handlerReadyMs: Summary;
  warmReadyMs: Summary;
  rssMiB: number;
  bundle: AssetSize;
  layers: AssetSize[];
  /** Bundle + layers, unzipped, against Lambda's 250 MB. */
  totalUnzippedBytes: number;
  error?: string;
}

export interface ColdStartBenchResult {
  name: 'coldstart';
  cdkOut: string;
  synthesized: boolean;
  limits: { unzippedBytes: number; zippedDirectUploadBytes: number };
  rows: ColdStartRow[];
}

/** The child: Lambda's CommonJS rule for the asset and layer roots, then load and invoke. */
const CHILD = `'use strict';
const boot = performance.now();
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const roots = JSON.parse(process.env.BENCH_ROOTS);
const inside = (file, root) => { const r = path.relative(root, file); return r !== '' && !r.startsWith('..') && !path.isAbsolute(r); };
const loadJs = Module._extensions['.js'];
Module._extensions['.js'] = function (module, filename) {
  if (roots.some((root) => inside(filename, root))) { module._compile(fs.readFileSync(filename, 'utf8'), filename); return; }
  loadJs.call(this, module, filename);
};
process.send({ type: 'boot', at: boot });
const [file, name] = process.env._HANDLER.split('.');
const mod = require(path.join(process.env.LAMBDA_TASK_ROOT, file));
process.send({ type: 'ready', at: performance.now() });
const context = { functionName: 'bench', awsRequestId: 'cold-1', getRemainingTimeInMillis: () => 30000, callbackWaitsForEmptyEventLoop: true };
const event = process.env.BENCH_EVENT ? JSON.parse(process.env.BENCH_EVENT) : { Records: [] };
Promise.resolve(mod[name](event, context, () => {})).then(
  () => process.send({ type: 'warm', at: performance.now(), rss: process.memoryUsage.rss() }, () => process.exit(0)),
  (error) => process.send({ type: 'error', message: String(error && error.stack || error) }, () => process.exit(0)),
);
`;

interface ColdSample {
  boot: number;
  ready: number;
  warm: number;
  rss: number;
}

function startOnce(childFile: string, env: Record<string, string>): Promise<ColdSample> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [childFile], { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const sample: Partial<ColdSample> = {};
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    child.on('message', (message: { type: string; rss?: number; message?: string }) => {
      const at = performance.now() - started;
      if (message.type === 'boot') sample.boot = at;
      else if (message.type === 'ready') sample.ready = at;
      else if (message.type === 'warm') {
        sample.warm = at;
        sample.rss = message.rss ?? 0;
      } else if (message.type === 'error') reject(new Error(message.message));
    });
    child.on('exit', (code) => {
      if (sample.warm !== undefined) resolve(sample as ColdSample);
      else reject(new Error(`child exited ${code} before warm-up: ${stderr}`));
    });
  });
}

function walk(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const inner = walk(path);
      files += inner.files;
      bytes += inner.bytes;
    } else if (entry.isFile()) {
      files++;
      bytes += statSync(path).size;
    }
  }
  return { files, bytes };
}

const zipAvailable = () => spawnSync('zip', ['-v'], { stdio: 'ignore' }).status === 0;

function assetSize(dir: string, cdkOut: string, zipped: boolean): AssetSize {
  const { files, bytes } = walk(dir);
  const size: AssetSize = { asset: relative(cdkOut, dir), unzippedBytes: bytes, files };
  if (existsSync(join(dir, 'index.js'))) size.codeBytes = statSync(join(dir, 'index.js')).size;
  if (existsSync(join(dir, 'index.js.map'))) size.sourceMapBytes = statSync(join(dir, 'index.js.map')).size;
  if (zipped) {
    const tmp = mkdtempSync(join(tmpdir(), 'inferbus-zip-'));
    const out = join(tmp, 'asset.zip');
    const result = spawnSync('zip', ['-r', '-X', '-q', out, '.'], { cwd: dir });
    if (result.status === 0) size.zippedBytes = statSync(out).size;
    rmSync(tmp, { recursive: true, force: true });
  }
  return size;
}

export async function runColdStartBench({ quick = false } = {}): Promise<ColdStartBenchResult> {
  const root = join(import.meta.dirname, '..');
  const cdkOut = join(root, 'cdk.out');
  // Synthesize when cdk.out is missing or older than the sources, as `inferbus local` does, so the
  // bundles measured are the ones the current code produces.
  const synthesized = await ensureSynthesized({
    projectRoot: root,
    cdkOutDir: 'cdk.out',
    stage: 'dev',
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const model = loadTemplateModel(cdkOut, undefined, { endpoint: 'http://127.0.0.1:9' });
  const zipped = zipAvailable();
  const tmp = mkdtempSync(join(tmpdir(), 'inferbus-cold-'));
  const childFile = join(tmp, 'cold-child.cjs');
  writeFileSync(childFile, CHILD);
  const runs = quick ? 2 : 10;
  const layerSizes = new Map<string, AssetSize>();
  const rows: ColdStartRow[] = [];
  try {
    for (const fn of model.functions as FunctionModel[]) {
      const env = lambdaEnvironment(fn, {
        extra: {
          // Nothing is called for an empty batch; point the SDK at a closed port regardless.
          AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
          AWS_ACCESS_KEY_ID: 'bench',
          AWS_SECRET_ACCESS_KEY: 'bench',
          BENCH_ROOTS: JSON.stringify([fn.assetDir, ...fn.layerDirs]),
          POWERTOOLS_LOG_LEVEL: 'ERROR',
          POWERTOOLS_METRICS_DISABLED: 'true',
        },
      });
      const layers = fn.layerDirs.map((dir) => {
        let size = layerSizes.get(dir);
        if (!size) {
          size = assetSize(dir, cdkOut, zipped);
          layerSizes.set(dir, size);
        }
        return size;
      });
      const bundle = assetSize(fn.assetDir, cdkOut, zipped);
      const samples: ColdSample[] = [];
      let error: string | undefined;
      try {
        await startOnce(childFile, env); // fills the page cache, as a warm Lambda host would have it
        for (let i = 0; i < runs; i++) samples.push(await startOnce(childFile, env));
      } catch (e) {
        error = (e as Error).message.split('\n').slice(0, 3).join(' ');
      }
      rows.push({
        function: fn.name,
        logicalId: fn.logicalId,
        handler: fn.handler,
        memoryMiB: fn.memoryMiB,
        runs: samples.length,
        nodeBootMs: roundSummary(summarize(samples.map((s) => s.boot)), 1),
        handlerReadyMs: roundSummary(summarize(samples.map((s) => s.ready)), 1),
        warmReadyMs: roundSummary(summarize(samples.map((s) => s.warm)), 1),
        rssMiB: round(summarize(samples.map((s) => s.rss)).median / 1024 ** 2, 1),
        bundle,
        layers,
        totalUnzippedBytes: bundle.unzippedBytes + layers.reduce((sum, l) => sum + l.unzippedBytes, 0),
        ...(error ? { error } : {}),
      });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return {
    name: 'coldstart',
    cdkOut: relative(root, cdkOut),
    synthesized,
    limits: { unzippedBytes: LAMBDA_UNZIPPED_LIMIT, zippedDirectUploadBytes: LAMBDA_ZIPPED_DIRECT_LIMIT },
    rows,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runColdStartBench({ quick: process.argv.includes('--quick') });
  for (const row of result.rows) {
    console.log(
      `${row.logicalId}: boot ${row.nodeBootMs.median} ms, handler ready ${row.handlerReadyMs.median} ms, warm ${row.warmReadyMs.median} ms ` +
        `(p90 ${row.warmReadyMs.p90}), rss ${row.rssMiB} MiB, bundle ${row.bundle.codeBytes} B code / ${row.bundle.unzippedBytes} B, ` +
        `zipped ${row.bundle.zippedBytes}, total ${row.totalUnzippedBytes} ${row.error ?? ''}`,
    );
  }
  console.log(result.rows[0]?.layers);
}
