/**
 * Resource names of one stage: the CDK app names its resources with these, and the CLI derives
 * everything it addresses from them.
 */
export function stageResourceNames(stage: string) {
  return {
    stackName: `inferbus-${stage}`,
    busName: `inferbus-${stage}`,
    databaseName: `inferbus_${stage.replaceAll('-', '_')}`,
    workGroupName: `inferbus-${stage}`,
    /** CloudFormation names the claims bucket `<stack>-claims<hash>` (lower case). */
    claimBucketPrefix: `inferbus-${stage}-claims`,
  };
}
export type StageResourceNames = ReturnType<typeof stageResourceNames>;
