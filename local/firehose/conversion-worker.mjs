// Entry of the Parquet conversion thread. Plain ESM that loads the TypeScript module through tsx's
// API, so the thread starts the same under tsx, vitest or plain node.
import { tsImport } from 'tsx/esm/api';

await tsImport('./conversion-worker.ts', import.meta.url);
