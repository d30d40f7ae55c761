import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import type { HandlerCalls } from '../../functions/core/declared-calls';
import { TIER1_CALLS } from '../../functions/tier1/calls';
import { TIER2_CALLS } from '../../functions/tier2/calls';
import { PROJECT_ROOT } from '../../lib/app';

/** The SDK client packages the handlers use, by the service name the declarations use. */
const CLIENT_SERVICES: Record<string, string> = {
  '@aws-sdk/client-sqs': 'sqs',
  '@aws-sdk/client-eventbridge': 'events',
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/client-s3': 's3',
  '@aws-sdk/client-firehose': 'firehose',
};

/**
 * Every `new <X>Command(` of an AWS SDK client in the project modules the handler's bundle holds
 * (esbuild's own module graph, packages left out), as `service:Operation`.
 */
async function commandsSentBy(handler: string): Promise<Set<string>> {
  const result = await build({
    entryPoints: [join(PROJECT_ROOT, handler)],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    packages: 'external',
    logLevel: 'silent',
  });
  const sent = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const source = readFileSync(join(PROJECT_ROOT, input), 'utf8');
    const imported = new Map<string, string>();
    for (const match of source.matchAll(/import\s*\{([^}]*)\}\s*from\s*'(@aws-sdk\/client-[a-z0-9-]+)'/g)) {
      const service = CLIENT_SERVICES[match[2] as string] ?? (match[2] as string);
      for (const name of (match[1] as string).split(',')) {
        const bare = name.replace(/\btype\b/, '').trim();
        if (bare.endsWith('Command')) imported.set(bare, service);
      }
    }
    for (const match of source.matchAll(/new\s+(\w+Command)\s*\(/g)) {
      const service = imported.get(match[1] as string);
      if (service) sent.add(`${service}:${(match[1] as string).replace(/Command$/, '')}`);
    }
  }
  return sent;
}

const declared = (calls: HandlerCalls) => new Set(calls.calls.map((c) => `${c.service}:${c.operation}`));

describe('each handler declares exactly the AWS calls its bundle sends', () => {
  it.each([TIER1_CALLS, TIER2_CALLS])('$handler', async (declaration) => {
    const sent = await commandsSentBy(declaration.handler);
    // Sanity: the scan sees the calls at all (a broken scan would pass any declaration).
    expect(sent.size).toBeGreaterThan(3);
    expect([...sent].sort()).toEqual([...declared(declaration)].sort());
  });

  it('each declared operation is one the local IAM can map to an action (or an S3 object call)', async () => {
    const { accessRequestsOf, UnmappedOperationError } = await import('../../local/iam/actions');
    for (const call of [...TIER1_CALLS.calls, ...TIER2_CALLS.calls]) {
      if (call.service === 's3') continue;
      expect(() =>
        accessRequestsOf(call.service as 'sqs', call.operation, {}, { account: '1', region: 'r' }),
      ).not.toThrow(UnmappedOperationError);
    }
  });
});
