import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';

describe('cdk synth', () => {
  it('needs neither Docker nor the network', () => {
    const work = mkdtempSync(join(tmpdir(), 'inferbus-offline-'));
    const dockerCalls = join(work, 'docker-calls.log');
    const networkLog = join(work, 'network.log');
    // A `docker` first on PATH that records any call and fails, as on a machine without Docker.
    writeFileSync(join(work, 'docker'), `#!/bin/sh\necho "$@" >> ${dockerCalls}\nexit 1\n`);
    chmodSync(join(work, 'docker'), 0o755);

    const result = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'app.ts')], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...process.env,
        PATH: `${work}:${process.env.PATH}`,
        CDK_OUTDIR: join(work, 'cdk.out'),
        CDK_CONTEXT_JSON: JSON.stringify({ stage: 'dev' }),
        NODE_OPTIONS: `--require ${resolve(__dirname, 'fixtures', 'block-network.cjs')}`,
        INFERBUS_NETWORK_LOG: networkLog,
      },
    });

    expect(result.status, result.stderr).toBe(0);
    expect(existsSync(join(work, 'cdk.out', 'inferbus-dev.template.json'))).toBe(true);
    expect(existsSync(dockerCalls) ? readFileSync(dockerCalls, 'utf8') : '').toBe('');
    expect(existsSync(networkLog) ? readFileSync(networkLog, 'utf8') : '').toBe('');
  });
});
