import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  lambdaEnvironment,
  lambdaNodeArgs,
  layerNodePath,
  remapOptPath,
} from '../../local/lambda/environment.js';

const root = mkdtempSync(join(tmpdir(), 'inferbus-lambda-env-'));
const first = join(root, 'first');
const second = join(root, 'second');
for (const dir of [
  join(first, 'nodejs', 'node_modules'),
  join(first, 'models'),
  join(second, 'nodejs', 'node22', 'node_modules'),
  join(second, 'nodejs', 'node_modules'),
  join(second, 'models'),
  join(second, 'extra'),
]) {
  mkdirSync(dir, { recursive: true });
}

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('lambda environment', () => {
  it('puts existing layer module folders on NODE_PATH, the later layer first (it overwrites /opt)', () => {
    expect(layerNodePath([first, second], 'nodejs22.x')).toEqual([
      join(second, 'nodejs', 'node22', 'node_modules'),
      join(second, 'nodejs', 'node_modules'),
      join(first, 'nodejs', 'node_modules'),
    ]);
    expect(layerNodePath([first, second], 'nodejs20.x')).not.toContain(
      join(second, 'nodejs', 'node22', 'node_modules'),
    );
  });

  it('rewrites /opt values to the layer that has the path, and leaves the rest alone', () => {
    expect(remapOptPath('/opt/models', [first, second])).toBe(join(second, 'models'));
    expect(remapOptPath('/opt/extra', [first, second])).toBe(join(second, 'extra'));
    expect(remapOptPath('/opt/nothing', [first, second])).toBe('/opt/nothing');
    expect(remapOptPath('/optimal', [first, second])).toBe('/optimal');
    expect(remapOptPath('s3://bucket/opt/models', [first])).toBe('s3://bucket/opt/models');
  });

  it('lets caller extras win over reserved variables, which win over the template', () => {
    const env = lambdaEnvironment(
      {
        logicalId: 'Fn',
        name: 'fn',
        arn: 'arn:aws:lambda:ap-south-1:000000000000:function:fn',
        assetDir: join(root, 'asset'),
        handler: 'index.handler',
        runtime: 'nodejs22.x',
        environment: { AWS_REGION: 'template-cannot-set-this', MODELS_DIR: '/opt/models' },
        timeoutSeconds: 3,
        memoryMiB: 128,
        layerDirs: [first],
      },
      { extra: { AWS_LAMBDA_LOG_FORMAT: 'JSON' } },
    );
    expect(env.AWS_REGION).toBe('ap-south-1');
    expect(env.MODELS_DIR).toBe(join(first, 'models'));
    expect(env.AWS_LAMBDA_LOG_FORMAT).toBe('JSON');
    expect(env.NODE_PATH).toBe([join(first, 'nodejs', 'node_modules'), join(root, 'asset')].join(delimiter));
  });
});

describe('lambdaNodeArgs', () => {
  it("limits V8's old space to the function's memory less a tenth, as Lambda's Node.js bootstrap does", () => {
    expect(lambdaNodeArgs(1024)).toEqual([
      '--expose-gc',
      '--max-http-header-size=81920',
      '--max-old-space-size=922',
    ]);
    expect(lambdaNodeArgs(2048).at(-1)).toBe('--max-old-space-size=1844');
    expect(lambdaNodeArgs(128).at(-1)).toBe('--max-old-space-size=116');
  });
});
