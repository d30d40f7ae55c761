// The runtime in a child process, for the SIGKILL scenario and the restart after SIGINT/SIGTERM (`node --import tsx test/faults/child.ts`).
//   serve <stateDir> [faultsJson]  start, print `READY {"endpoint","region"}`, run until killed
//   drain <stateDir> [faultsJson]  start on the same state, wait until idle, print `RESULT <collected>`, stop
//   restart <stateDir>             drain on the template's own clock (181 s visibility), after a graceful stop
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../lib/app';
import { LocalRuntime } from '../../local/runtime';
import { QueueStore } from '../../local/sqs/store';
import { loadTemplateModel } from '../../local/template';
import { collect, firehoseTotals, startRuntime, waitUntilIdle } from './reconcile';

const [mode, stateDir, faultsJson] = process.argv.slice(2);
if ((mode !== 'serve' && mode !== 'drain' && mode !== 'restart') || !stateDir) {
  process.stderr.write('usage: child.ts serve|drain|restart <stateDir> [faultsJson]\n');
  process.exit(2);
}
// Left in flight by the previous run, read from the SQS log before the pollers start: each would
// wait out its visibility timeout (the template's 181 s) before anyone received it again.
const inFlight = inFlightInLog(stateDir);
const log = (line: string) => process.stderr.write(`${line}\n`);
const runtime =
  mode === 'restart'
    ? await LocalRuntime.start({ projectRoot: PROJECT_ROOT, stage: 'dev', port: 0, stateDir, log })
    : await startRuntime(stateDir, faultsJson ? JSON.parse(faultsJson) : undefined, log);
const workQueues = new Set(runtime.model.eventSourceMappings.map((m) => m.queueArn));
const backlog = runtime
  .queueCounts()
  .filter((q) => workQueues.has(q.arn))
  .reduce((n, q) => n + q.visible + q.inFlight + q.delayed, 0);
const { recordsReplayed: replayed } = firehoseTotals(runtime);
const target = { endpoint: runtime.endpoint, region: runtime.model.region };
if (mode === 'serve') {
  process.stdout.write(`READY ${JSON.stringify(target)}\n`);
} else {
  const settled = await waitUntilIdle(runtime);
  const collected = await collect(target, runtime.model);
  await runtime.stop();
  process.stdout.write(`RESULT ${JSON.stringify({ settled, backlog, inFlight, replayed, ...collected })}\n`);
  process.exit(0);
}

function inFlightInLog(dir: string): number {
  const model = loadTemplateModel(join(PROJECT_ROOT, 'cdk.out'), undefined, {
    endpoint: 'http://127.0.0.1:0',
  });
  const store = new QueueStore(model.queues, { stateDir: dir });
  try {
    return model.queues.reduce((n, q) => n + store.counts(q.arn).inFlight, 0);
  } finally {
    store.close();
  }
}
