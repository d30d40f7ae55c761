export { CatalogTable, type ObjectPathResolver } from './catalog';
export { AthenaRequestError } from './errors';
export { ATHENA_MACROS } from './functions';
export { type AthenaHttpResponse, handleAthenaRequest } from './handler';
export {
  LocalAthena,
  type LocalAthenaOptions,
  type QueryExecution,
  type QueryResult,
  type QueryState,
} from './local-athena';
export { parseExecutionParameter } from './parameters';
