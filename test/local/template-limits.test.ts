import { mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import { ensureSynthesized, loadTemplateModel } from '../../local/template';

/**
 * Templates crafted to cross one AWS limit each (from the real synthesized app, one property
 * changed) are refused at load, naming the resource and the limit, as `cdk deploy` would fail.
 */
const cdkOut = join(PROJECT_ROOT, 'cdk.out');
const LOCAL = { endpoint: 'http://127.0.0.1:0' };
let base: any;

beforeAll(async () => {
  await ensureSynthesized({ projectRoot: PROJECT_ROOT, cdkOutDir: cdkOut, stage: 'dev', log: () => {} });
  base = JSON.parse(readFileSync(join(cdkOut, 'inferbus-dev.template.json'), 'utf8'));
});

/** Loads a copy of the template after `edit`; asset folders are linked, not copied. */
function loadEdited(edit: (template: any) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-limits-'));
  for (const name of readdirSync(cdkOut)) {
    if (name.startsWith('asset.')) symlinkSync(join(cdkOut, name), join(dir, name));
    else if (name.endsWith('.json')) writeFileSync(join(dir, name), readFileSync(join(cdkOut, name)));
  }
  const template = structuredClone(base);
  edit(template);
  writeFileSync(join(dir, 'inferbus-dev.template.json'), JSON.stringify(template));
  return () => loadTemplateModel(dir, undefined, LOCAL);
}

const find = (template: any, type: string, prefix = '') =>
  Object.entries<any>(template.Resources).find(([id, r]) => r.Type === type && id.startsWith(prefix)) as [
    string,
    any,
  ];

describe('AWS limits at template load', () => {
  it('loads the real template: it crosses none', () => {
    expect(() => loadEdited(() => {})()).not.toThrow();
  });

  it('refuses a function environment over 4 KB, as Lambda measures it (JSON of the variables)', () => {
    let id = '';
    const load = loadEdited((t) => {
      const [fnId, fn] = find(t, 'AWS::Lambda::Function', 'TaskSpamTier1');
      id = fnId;
      fn.Properties.Environment.Variables.PADDING = 'x'.repeat(3900);
    });
    expect(load).toThrow(new RegExp(`${id}: its environment variables take \\d+ bytes; Lambda allows 4096`));
  });

  it('refuses an invalid environment variable name', () => {
    const load = loadEdited((t) => {
      find(t, 'AWS::Lambda::Function', 'TaskSpamTier2')[1].Properties.Environment.Variables['1BAD'] = 'x';
    });
    expect(load).toThrow(/environment variable name "1BAD" is invalid/);
  });

  it('refuses more than 500 resources and more than 300 rules on a bus', () => {
    const load = loadEdited((t) => {
      const [, rule] = find(t, 'AWS::Events::Rule', 'TaskSpamTier1TenantAcme');
      for (let i = 0; i < 420; i++) {
        const copy = structuredClone(rule);
        copy.Properties.Targets = [];
        t.Resources[`ExtraRule${i}`] = copy;
      }
    });
    expect(load).toThrow(/has \d+ resources; CloudFormation allows 500 per stack/);
    expect(load).toThrow(/Event bus inferbus-dev has \d+ rules; EventBridge allows 300 per bus/);
  });

  it('refuses a rule with more than 5 targets and a transformer over its limits', () => {
    let id = '';
    const load = loadEdited((t) => {
      const [ruleId, rule] = find(t, 'AWS::Events::Rule', 'ArchiveRule');
      id = ruleId;
      const [target] = rule.Properties.Targets;
      rule.Properties.Targets = Array.from({ length: 6 }, (_, i) => ({ ...target, Id: `T${i}` }));
      target.InputTransformer.InputTemplate = `"${'x'.repeat(8200)}"`;
    });
    expect(load).toThrow(new RegExp(`${id}: 6 targets; EventBridge allows 5 per rule`));
    expect(load).toThrow(/InputTemplate must be between 1 and 8192 characters/);
  });

  it('refuses SQS attributes outside their ranges, naming the queue and the attribute', () => {
    let id = '';
    const load = loadEdited((t) => {
      const [queueId, queue] = find(t, 'AWS::SQS::Queue', 'TaskSpamTier1TenantAcmeWorkQueue');
      id = queueId;
      Object.assign(queue.Properties, {
        VisibilityTimeout: 43_201,
        MessageRetentionPeriod: 59,
        DelaySeconds: 901,
        MaximumMessageSize: 1023,
      });
      queue.Properties.RedrivePolicy.maxReceiveCount = 1001;
    });
    expect(load).toThrow(new RegExp(`${id}: VisibilityTimeout is 43201; AWS allows 0 to 43200`));
    expect(load).toThrow(new RegExp(`${id}: MessageRetentionPeriod is 59; AWS allows 60 to 1209600`));
    expect(load).toThrow(new RegExp(`${id}: DelaySeconds is 901`));
    expect(load).toThrow(new RegExp(`${id}: MaximumMessageSize is 1023`));
    expect(load).toThrow(new RegExp(`${id}: RedrivePolicy.maxReceiveCount is 1001`));
  });

  it('refuses event source mappings AWS would refuse', () => {
    let id = '';
    const load = loadEdited((t) => {
      const [esmId, esm] = find(t, 'AWS::Lambda::EventSourceMapping', 'TaskSpamTier1');
      id = esmId;
      Object.assign(esm.Properties, { BatchSize: 10_001, MaximumBatchingWindowInSeconds: 0 });
      esm.Properties.ScalingConfig = { MaximumConcurrency: 1 };
    });
    expect(load).toThrow(new RegExp(`${id}: BatchSize is 10001; AWS allows 1 to 10000`));
    expect(load).toThrow(
      new RegExp(
        `${id}: BatchSize 10001 is above 10, which Lambda allows only with MaximumBatchingWindowInSeconds of at least 1`,
      ),
    );
    expect(load).toThrow(new RegExp(`${id}: ScalingConfig.MaximumConcurrency is 1; AWS allows 2 to 1000`));
  });

  it('refuses a queue whose visibility timeout is below its consumer function timeout', () => {
    const load = loadEdited((t) => {
      find(t, 'AWS::SQS::Queue', 'TaskSpamTier1TenantAcmeWorkQueue')[1].Properties.VisibilityTimeout = 5;
    });
    expect(load).toThrow(
      /visibility timeout of 5 s, below the 30 s timeout of .*Lambda refuses such an event source/,
    );
  });
});
