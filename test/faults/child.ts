// The runtime in a child process, for the SIGKILL scenario (`node --import tsx test/faults/child.ts`).
//   serve <stateDir> [faultsJson]  start, print `READY {"endpoint","region"}`, run until killed
//   drain <stateDir> [faultsJson]  start on the same state, wait until idle, print `RESULT <collected>`, stop
import { collect, firehoseTotals, startRuntime, waitUntilIdle } from './reconcile';

const [mode, stateDir, faultsJson] = process.argv.slice(2);
if ((mode !== 'serve' && mode !== 'drain') || !stateDir) {
  process.stderr.write('usage: child.ts serve|drain <stateDir> [faultsJson]\n');
  process.exit(2);
}
const runtime = await startRuntime(stateDir, faultsJson ? JSON.parse(faultsJson) : undefined, (line) =>
  process.stderr.write(`${line}\n`),
);
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
  process.stdout.write(`RESULT ${JSON.stringify({ settled, backlog, replayed, ...collected })}\n`);
  process.exit(0);
}
