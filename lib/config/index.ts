export { ConfigError, loadStageConfig, parseStageConfig } from './load';
export * from './schema';
export { stages } from './stages';
