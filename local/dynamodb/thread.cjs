'use strict';
/**
 * dynalite in a worker thread: started by index.ts with `{ path, port }` as workerData, it answers
 * `{ port }` once listening on 127.0.0.1, and closes (flushing LevelDB) on `'stop'`. Plain
 * CommonJS so the thread runs the same under tsx, vitest or a build.
 *
 * Why a thread: dynalite parses, validates and evaluates every request in JavaScript, about a
 * millisecond each; on the runtime's event loop that time is taken from the bus and the queues.
 */
const { parentPort, workerData } = require('node:worker_threads');
const dynalite = require('dynalite');

const server = dynalite({ path: workerData.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.once('error', (error) => parentPort.postMessage({ error: error.message }));
server.listen(workerData.port ?? 0, '127.0.0.1', () =>
  parentPort.postMessage({ port: server.address().port }),
);
parentPort.on('message', (message) => {
  // process.exit in a worker thread ends the thread only.
  if (message === 'stop') server.close(() => process.exit(0));
});
