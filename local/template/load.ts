import { existsSync, readFileSync } from 'node:fs';
import { LOCAL_ACCOUNT, type TemplateModel } from '../model.js';
import { readCloudAssembly, selectStack } from './cloud-assembly.js';
import { ExtractContext } from './context.js';
import { TemplateError } from './errors.js';
import {
  extractDeliveryStreams,
  extractGlueTables,
  extractNamedQueries,
  extractWorkGroups,
} from './extract-archive.js';
import { extractTables } from './extract-dynamodb.js';
import { extractBuses, extractRules } from './extract-events.js';
import { extractIam } from './extract-iam.js';
import { extractEventSourceMappings, extractFunctions } from './extract-lambda.js';
import { extractBuckets, extractQueues } from './extract-storage.js';
import { IntrinsicResolver } from './intrinsics.js';
import { checkServiceLimits } from './limits.js';
import type { LocalEnvironment } from './names.js';
import { type CfnTemplate, isRecord } from './template.js';

export interface LoadOptions {
  /** Base URL of the local endpoints; queue URLs are `<endpoint>/000000000000/<name>`. */
  readonly endpoint: string;
  /**
   * `false` builds the model of a template that crosses AWS limits (preflight lists them with
   * serviceLimitProblems instead). @default true
   */
  readonly checkLimits?: boolean;
}

export function readTemplate(path: string): CfnTemplate {
  if (!existsSync(path)) throw new TemplateError(`${path} not found: run \`npx cdk synth\` again.`);
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!isRecord(parsed) || !isRecord(parsed.Resources)) {
    throw new TemplateError(`${path} is not a CloudFormation template (no Resources).`);
  }
  return parsed as unknown as CfnTemplate;
}

/** Builds the model of one template (exported for tests on hand-written templates). */
export function buildTemplateModel(
  template: CfnTemplate,
  env: LocalEnvironment,
  cdkOutDir: string,
  options: { readonly checkLimits?: boolean } = {},
): TemplateModel {
  const ctx = new ExtractContext(template, new IntrinsicResolver(template, env), env, cdkOutDir);
  const functions = extractFunctions(ctx);
  const model: TemplateModel = {
    stackName: env.stackName,
    account: env.account,
    region: env.region,
    buses: extractBuses(ctx),
    buckets: extractBuckets(ctx),
    queues: extractQueues(ctx),
    rules: extractRules(ctx),
    functions,
    eventSourceMappings: extractEventSourceMappings(ctx, functions),
    deliveryStreams: extractDeliveryStreams(ctx),
    glueTables: extractGlueTables(ctx),
    workGroups: extractWorkGroups(ctx),
    namedQueries: extractNamedQueries(ctx),
    tables: extractTables(ctx),
    iam: extractIam(ctx),
  };
  if (options.checkLimits ?? true) checkServiceLimits(template, model);
  return model;
}

/** Reads `cdk.out` and returns the local model of one stack (the only one, or `stackName`). */
export function loadTemplateModel(
  cdkOutDir: string,
  stackName: string | undefined,
  options: LoadOptions,
): TemplateModel {
  const assembly = readCloudAssembly(cdkOutDir);
  const stack = selectStack(assembly, stackName);
  const env: LocalEnvironment = {
    stackName: stack.stackName,
    region: stack.region,
    account: LOCAL_ACCOUNT,
    endpoint: options.endpoint,
  };
  return buildTemplateModel(readTemplate(stack.templatePath), env, assembly.dir, options);
}
