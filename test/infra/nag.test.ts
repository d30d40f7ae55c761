import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { synth } from './synth';

function failuresIn(outdir: string): unknown[] {
  const path = join(outdir, 'validation-report.json');
  if (!existsSync(path)) return [];
  const report = JSON.parse(readFileSync(path, 'utf8'));
  return (report.pluginReports ?? []).flatMap(
    (plugin: { violations?: unknown[] }) => plugin.violations ?? [],
  );
}

describe('cdk-nag AwsSolutions', () => {
  it('would fail synth on an unacknowledged finding (the check is live)', () => {
    const app = new App();
    new sqs.Queue(new Stack(app, 'Probe'), 'PlainQueue');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS4/);
  });

  it.each(['dev', 'prod'])('passes for stage %s with zero unacknowledged findings', (stage) => {
    // synth() runs the AwsSolutions plugin and throws on any unacknowledged finding.
    const { outdir } = synth({ stage });
    expect(failuresIn(outdir)).toEqual([]);
  });

  it('gives every acknowledgement a reason a reviewer can act on', () => {
    const { stack } = synth();
    const acknowledged = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      .filter(([id]) => id.replace(/^Annotation::/, '').startsWith('AwsSolutions-'));
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledged) {
      expect(reason.length, `reason for ${id}`).toBeGreaterThan(60);
    }
  });
});
