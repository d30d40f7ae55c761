export { ConfigError, loadStageConfig, parseStageConfig } from './load';
export { type ResolvedTask, type ResolvedTier, resolveTasks } from './resolve-tasks';
export * from './schema';
export { stages } from './stages';
