import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaNodeArgs } from '../../local/lambda/environment.js';
import { UnknownFunctionError } from '../../local/lambda/errors.js';
import { LambdaRunner, type LogMeta } from '../../local/lambda/runner.js';
import type { FunctionModel, InvocationResult } from '../../local/model.js';
import { type LambdaLayout, makeLambdaLayout } from './fixtures/lambda/layout.js';

let layout: LambdaLayout;
const lines: { line: string; meta: LogMeta }[] = [];
const runners: LambdaRunner[] = [];

function runner(functions: FunctionModel[], options: ConstructorParameters<typeof LambdaRunner>[1] = {}) {
  const created = new LambdaRunner(functions, {
    logSink: (line, meta) => lines.push({ line, meta }),
    ...options,
  });
  runners.push(created);
  return created;
}

function payload(result: InvocationResult): any {
  if (!result.ok) throw new Error(`expected success, got ${result.errorType}: ${result.errorMessage}`);
  return result.payload;
}

function initCount(): number {
  return readFileSync(layout.initLog, 'utf8').split('\n').filter(Boolean).length;
}

beforeAll(() => {
  layout = makeLambdaLayout();
});

afterAll(async () => {
  await Promise.all(runners.map((created) => created.close()));
  layout.cleanup();
});

describe('LambdaRunner', () => {
  it('loads a CommonJS bundle below a "type": "module" package.json, with a Lambda context', async () => {
    const fn = layout.fn('index.echo');
    const lambda = runner([fn]);
    const result = payload(await lambda.invoke(fn.logicalId, { hello: 'world' }, { qualifier: 'live' }));
    expect(result.event).toEqual({ hello: 'world' });
    expect(result.isCommonJs).toBe(true);
    expect(result.cwd).toBe(layout.assetDir);
    expect(result.context).toMatchObject({
      functionName: fn.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: `${fn.arn}:live`,
      memoryLimitInMB: '256',
      logGroupName: `/aws/lambda/${fn.name}`,
    });
    expect(result.context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.context.remainingMs).toBeGreaterThan(4000);
    expect(result.context.remainingMs).toBeLessThanOrEqual(5000);
  });

  it("starts node with Lambda's flags for the function's memory, not the parent's", async () => {
    const fn = layout.fn('index.runtimeFlags', { memoryMiB: 1024 });
    const flags = payload(await runner([fn]).invoke(fn.logicalId, {}));
    expect(flags.execArgv).toEqual(lambdaNodeArgs(1024));
    expect(flags.gc).toBe('function');
    // The old space limit (922 MiB) plus the young generation V8 adds to it; without the flag
    // V8 sizes the heap from the machine's memory (about 4 GiB on 24 GiB).
    expect(flags.heapLimitMiB).toBeGreaterThanOrEqual(922);
    expect(flags.heapLimitMiB).toBeLessThan(1100);
  });

  it('sets Lambda variables, caller extras and the template environment; inherits nothing else', async () => {
    process.env.INFERBUS_TEST_LEAK = 'should-not-leak';
    const fn = layout.fn('index.env', { environment: { ...layout.fn('x').environment, STAGE: 'dev' } });
    const lambda = runner([fn], {
      extraEnvironment: { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566', AWS_ACCESS_KEY_ID: 'local' },
    });
    const keys = [
      'STAGE',
      'AWS_ENDPOINT_URL',
      'AWS_ACCESS_KEY_ID',
      'AWS_REGION',
      'AWS_LAMBDA_FUNCTION_NAME',
      'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
      'AWS_LAMBDA_FUNCTION_VERSION',
      'LAMBDA_TASK_ROOT',
      '_HANDLER',
      'AWS_EXECUTION_ENV',
      'AWS_LAMBDA_LOG_FORMAT',
      'INFERBUS_TEST_LEAK',
    ];
    const env = payload(await lambda.invoke(fn.logicalId, { keys }));
    delete process.env.INFERBUS_TEST_LEAK;
    expect(env).toEqual({
      STAGE: 'dev',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_REGION: 'eu-west-1',
      AWS_LAMBDA_FUNCTION_NAME: fn.name,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      LAMBDA_TASK_ROOT: layout.assetDir,
      _HANDLER: 'index.env',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      AWS_LAMBDA_LOG_FORMAT: 'Text',
      INFERBUS_TEST_LEAK: null,
    });
  });

  it('resolves layer packages through NODE_PATH and /opt paths to the layer folders', async () => {
    const fn = layout.fn('index.layer');
    const lambda = runner([fn]);
    expect(payload(await lambda.invoke(fn.logicalId, {}))).toEqual({
      dep: 'hello from the layer',
      model: 'tier-1 model bytes',
    });
    expect(lambda.environmentOf(fn.logicalId).MODELS_DIR).toBe(join(layout.modelsLayer, 'models'));
  });

  it('reuses a warm worker: init runs once, module state survives between invocations', async () => {
    const before = initCount();
    const fn = layout.fn('index.counter');
    const lambda = runner([fn]);
    const results = [];
    for (let i = 0; i < 3; i++) results.push(payload(await lambda.invoke(fn.logicalId, {})));
    expect(results.map((r) => r.invocations)).toEqual([1, 2, 3]);
    expect(new Set(results.map((r) => r.pid)).size).toBe(1);
    expect(initCount() - before).toBe(1);
    const [metrics] = lambda.metrics();
    expect(metrics).toMatchObject({ invocations: 3, coldStarts: 1, workers: { live: 1, idle: 1, busy: 0 } });
    expect(metrics?.initMs.count).toBe(1);
    const reports = lines.filter(
      (l) => l.meta.logicalId === fn.logicalId && l.line.includes('REPORT RequestId'),
    );
    expect(reports).toHaveLength(3);
    expect(reports[0]?.line).toContain('Init Duration');
    expect(reports[1]?.line).not.toContain('Init Duration');
  });

  it('times out only the slow invocation; a concurrent one succeeds and the next gets a fresh worker', async () => {
    const fn = layout.fn('index.slow', { timeoutSeconds: 0.5 });
    const lambda = runner([fn]);
    const [slow, fast] = await Promise.all([
      lambda.invoke(fn.logicalId, { ms: 5_000 }),
      lambda.invoke(fn.logicalId, { ms: 20 }),
    ]);
    expect(slow).toMatchObject({
      ok: false,
      errorType: 'Timeout',
      errorMessage: 'Task timed out after 0.50 seconds',
    });
    expect(slow.durationMs).toBeGreaterThanOrEqual(450);
    // Cut short: the handler would have slept 5 s.
    expect(slow.durationMs).toBeLessThan(5_000);
    expect(payload(fast).slept).toBe(20);
    expect(lambda.metrics()[0]?.workers.live).toBe(1);
    expect(payload(await lambda.invoke(fn.logicalId, { ms: 1 })).slept).toBe(1);
    expect(lambda.metrics()[0]).toMatchObject({ invocations: 3, coldStarts: 2, errors: { Timeout: 1 } });
  });

  it('reports a crash (SIGKILL, abort) with the signal and stderr tail, then starts a fresh worker', async () => {
    const fn = layout.fn('index.crash');
    const slow = layout.fn('index.slow', { logicalId: 'Neighbour' });
    const lambda = runner([fn, slow]);
    const neighbour = lambda.invoke(slow.logicalId, { ms: 200 });
    const killed = await lambda.invoke(fn.logicalId, { how: 'SIGKILL' });
    expect(killed).toMatchObject({ ok: false, errorType: 'Crash' });
    if (killed.ok) return;
    expect(killed.errorMessage).toContain('signal SIGKILL');
    expect(killed.errorMessage).toContain('about to crash with SIGKILL');
    const aborted = await lambda.invoke(fn.logicalId, { how: 'abort' });
    expect(aborted).toMatchObject({ ok: false, errorType: 'Crash' });
    if (!aborted.ok) expect(aborted.errorMessage).toContain('signal SIGABRT');
    expect(payload(await neighbour).slept).toBe(200);
    expect(lambda.metrics()[0]).toMatchObject({ invocations: 2, coldStarts: 2, errors: { Crash: 2 } });
  });

  it('keeps the worker after a handled error and names the error type', async () => {
    const fail = layout.fn('index.fail');
    const counter = layout.fn('index.counter', { logicalId: 'Counter2' });
    const lambda = runner([fail, counter]);
    const result = await lambda.invoke(fail.logicalId, {});
    expect(result).toMatchObject({
      ok: false,
      errorType: 'Handled',
      errorMessage: 'PoisonInputError: payload is not a message',
    });
    await lambda.invoke(fail.logicalId, {});
    expect(lambda.metrics()[0]).toMatchObject({ invocations: 2, coldStarts: 1, errors: { Handled: 2 } });
    const errorLine = lines.find(
      (l) => l.meta.logicalId === fail.logicalId && l.line.includes('Invoke Error'),
    );
    expect(errorLine?.line).toContain('"errorType":"PoisonInputError"');
  });

  it('reports an init error for a module that throws at load, and retries init on the next invocation', async () => {
    const fn = layout.fn('broken.handler');
    const lambda = runner([fn]);
    const first = await lambda.invoke(fn.logicalId, {});
    expect(first).toMatchObject({ ok: false, errorType: 'InitError' });
    if (!first.ok) expect(first.errorMessage).toContain('cannot load model');
    expect((await lambda.invoke(fn.logicalId, {})).ok).toBe(false);
    expect(lambda.metrics()[0]).toMatchObject({
      coldStarts: 2,
      errors: { InitError: 2 },
      workers: { live: 0 },
    });
  });

  it('reports a missing export or module as an init error that says what to check', async () => {
    const lambda = runner([layout.fn('index.nope'), layout.fn('missing.handler')]);
    const noExport = await lambda.invoke('Fnindexnope', {});
    expect(noExport).toMatchObject({ ok: false, errorType: 'InitError' });
    if (!noExport.ok) expect(noExport.errorMessage).toContain('Runtime.HandlerNotFound');
    const noModule = await lambda.invoke('Fnmissinghandler', {});
    if (!noModule.ok)
      expect(noModule.errorMessage).toMatch(/Runtime.ImportModuleError: Cannot find module 'missing'/);
  });

  it('supports callback handlers, and fails a result that is not JSON like Lambda', async () => {
    const fns = [layout.fn('index.callback'), layout.fn('index.callbackError'), layout.fn('index.notJson')];
    const lambda = runner(fns);
    expect(payload(await lambda.invoke('Fnindexcallback', { n: 7 }))).toEqual({ via: 'callback', n: 7 });
    expect(await lambda.invoke('FnindexcallbackError', {})).toMatchObject({
      ok: false,
      errorType: 'Handled',
      errorMessage: 'callback failed',
    });
    const notJson = await lambda.invoke('FnindexnotJson', {});
    expect(notJson).toMatchObject({ ok: false, errorType: 'Handled' });
    if (!notJson.ok) expect(notJson.errorMessage).toMatch(/^Runtime.MarshalError/);
  });

  it('forwards whole log lines prefixed with the function name', async () => {
    const fn = layout.fn('index.log');
    const lambda = runner([fn]);
    await lambda.invoke(fn.logicalId, {});
    await lambda.close();
    const stdout = lines.filter((l) => l.meta.logicalId === fn.logicalId && l.meta.stream === 'stdout');
    expect(stdout.map((l) => l.line)).toEqual([
      `[${fn.name}] first half, second half`,
      `[${fn.name}] another line`,
    ]);
  });

  it('warns once when a worker uses more memory than the function has (memory is not enforced)', async () => {
    const fn = layout.fn('index.hog', { logicalId: 'Tiny', memoryMiB: 128 });
    const lambda = runner([fn]);
    await lambda.invoke(fn.logicalId, { mib: 160 });
    await lambda.invoke(fn.logicalId, { mib: 0 });
    const warnings = lines.filter((l) => l.meta.logicalId === 'Tiny' && l.line.includes('WARNING'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.line).toContain("over the function's 128 MB");
  });

  it('caps workers per function, reaps idle ones, and rejects unknown functions', async () => {
    const fn = layout.fn('index.slow', { logicalId: 'Capped' });
    const lambda = runner([fn], { maxWorkersPerFunction: 2, idleTimeoutMs: 150 });
    const results = await Promise.all([1, 2, 3, 4].map(() => lambda.invoke(fn.logicalId, { ms: 100 })));
    expect(new Set(results.map((r) => payload(r).pid)).size).toBe(2);
    expect(lambda.metrics()[0]?.coldStarts).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(lambda.metrics()[0]?.workers.live).toBe(0);
    await expect(lambda.invoke('Nope', {})).rejects.toBeInstanceOf(UnknownFunctionError);
  });

  it('starts provisioned environments before any invocation and never reaps them', async () => {
    const before = initCount();
    const fn = layout.fn('index.counter', { logicalId: 'Provisioned', provisionedConcurrency: 2 });
    const lambda = runner([fn], { maxWorkersPerFunction: 3, idleTimeoutMs: 100 });
    await lambda.provision();
    expect(initCount() - before).toBe(2);
    expect(lambda.metrics()[0]).toMatchObject({ coldStarts: 0, workers: { live: 2, idle: 2 } });
    const first = payload(await lambda.invoke(fn.logicalId, {}));
    expect(first.invocations).toBe(1);
    expect(lambda.metrics()[0]?.coldStarts).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(lambda.metrics()[0]?.workers.live).toBe(2);
  });

  it('logs a provisioned environment whose init fails; invocations then start (and report) their own', async () => {
    const fn = layout.fn('broken.handler', { logicalId: 'ProvisionedBroken', provisionedConcurrency: 1 });
    const lambda = runner([fn]);
    await lambda.provision();
    expect(lambda.metrics()[0]?.workers.live).toBe(0);
    const logged = lines.filter((l) => l.meta.logicalId === fn.logicalId && l.line.includes('Invoke Error'));
    expect(logged.length).toBeGreaterThanOrEqual(1);
    expect(logged[0]?.line).toContain('cannot load model');
    expect(await lambda.invoke(fn.logicalId, {})).toMatchObject({ ok: false, errorType: 'InitError' });
  });
});
