/** The one reader of the synthesized CloudFormation: cdk.out → TemplateModel (local/model.ts). */
export { type CloudAssembly, readCloudAssembly, type StackArtifact, selectStack } from './cloud-assembly.js';
export { TemplateError } from './errors.js';
export { IntrinsicResolver, NO_VALUE } from './intrinsics.js';
export { buildTemplateModel, type LoadOptions, loadTemplateModel, readTemplate } from './load.js';
export type { LocalEnvironment } from './names.js';
export { type EnsureSynthesizedOptions, ensureSynthesized, staleReason } from './synth.js';
export type { CfnResource, CfnTemplate } from './template.js';
