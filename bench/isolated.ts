/**
 * Runs one benchmark in a fresh Node process and returns its result. The local pipeline and the
 * soak run the local runtime inside the benchmark's own process: after the inference, cascade and
 * cold-start benchmarks had left their heap behind, the runtime's main thread spent about 0.28 ms
 * per event in the pipeline instead of 0.19 alone, so those two start clean.
 *
 * The child is this file, forked with the parent's loader flags (tsx); it imports the module, calls
 * the export with `{ quick }` and sends the result back over IPC.
 */
import { fork } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Reply = { ok: true; result: unknown } | { ok: false; error: string };

export function runIsolated<T>(module: string, exportName: string, options: { quick: boolean }): Promise<T> {
  const child = fork(fileURLToPath(import.meta.url), [module, exportName, JSON.stringify(options)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise<T>((resolve, reject) => {
    let reply: Reply | undefined;
    child.once('message', (message: Reply) => {
      reply = message;
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (reply?.ok) resolve(reply.result as T);
      else if (reply) reject(new Error(reply.error));
      else
        reject(
          new Error(`${exportName} (${module}) exited with ${signal ?? `code ${code}`} before answering`),
        );
    });
  });
}

async function child(): Promise<void> {
  const [module = '', exportName = '', options = '{}'] = process.argv.slice(2);
  try {
    const loaded = (await import(new URL(module, import.meta.url).href)) as Record<string, unknown>;
    const run = loaded[exportName];
    if (typeof run !== 'function') throw new Error(`${module} exports no function ${exportName}`);
    const result: unknown = await run(JSON.parse(options));
    await new Promise<void>((resolve) =>
      process.send?.({ ok: true, result } satisfies Reply, () => resolve()),
    );
  } catch (error) {
    const reply: Reply = {
      ok: false,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    };
    await new Promise<void>((resolve) => process.send?.(reply, () => resolve()));
    process.exitCode = 1;
  }
  process.disconnect?.();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await child();
