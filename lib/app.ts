import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError, loadStageConfig } from './config';
import { InferbusStack, stageNames } from './stacks/inferbus-stack';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface CreateAppOptions extends AppProps {
  /** Run the cdk-nag AwsSolutions pack on synth. @default true */
  readonly nag?: boolean;
}

/**
 * Builds the CDK app from its context: `stage` picks a built-in stage, `config` points at a
 * JSON file that overrides it, `modelsDir` points the models layer at another folder.
 */
export function createApp(options: CreateAppOptions = {}): { app: App; stack: InferbusStack } {
  const app = new App(options);
  const stage = String(app.node.tryGetContext('stage') ?? 'dev');
  const configPath = app.node.tryGetContext('config') as string | undefined;
  const modelsDir = app.node.tryGetContext('modelsDir') as string | undefined;
  const config = loadStageConfig(stage, configPath ? readConfigFile(configPath) : undefined);
  const names = stageNames(config.stage);
  const stack = new InferbusStack(app, names.stackName, {
    stackName: names.stackName,
    description: `inferbus ${config.stage}: event-driven tiered ONNX inference`,
    env: { account: config.env.account ?? process.env.CDK_DEFAULT_ACCOUNT, region: config.env.region },
    config,
    projectRoot: PROJECT_ROOT,
    modelsDir: modelsDir ? resolve(modelsDir) : undefined,
    tags: { project: 'inferbus', stage: config.stage },
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

function readConfigFile(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(
      `Cannot read the configuration file ${path} given with -c config=: ${(error as Error).message}`,
    );
  }
}
