// The Athena polling client now lives in functions/shared (the CLI's `inferbus query` uses it too).
export { namedQueries, type QueryRows, runQuery } from '../../functions/shared/athena-query';
