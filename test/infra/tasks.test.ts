import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { readStageDeployment } from '../../cli/stage-template';
import { ConfigError } from '../../lib/config';
import { InferenceTier, type InferenceTierProps } from '../../lib/constructs/inference-tier';
import { TierModel, TierModelError } from '../../lib/constructs/tier-model';
import { matchesPattern } from '../../local/eventbridge/pattern';
import { tierSettings, writeTwoTaskConfig, writeTwoTaskModels } from '../support/task-fixture';
import { allTiers, type Synthesized, synth, tierOf } from './synth';

type Resource = { Type: string; Properties: Record<string, any>; Metadata?: Record<string, any> };

let modelsDir: string;
let s: Synthesized;

beforeAll(() => {
  modelsDir = writeTwoTaskModels();
  s = synth({ stage: 'dev', config: writeTwoTaskConfig(), modelsDir });
});

const resources = (type: string) => Object.entries(s.template.findResources(type)) as [string, Resource][];
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  s.stack.getLogicalId(construct.node.defaultChild as never);

describe('a stage with two tasks, one of them three tiers deep', () => {
  it('runs one function per task and tier, named and configured by its model', () => {
    const functions = resources('AWS::Lambda::Function').filter(
      ([, r]) => r.Properties.Environment?.Variables?.INFERBUS_TASK,
    );
    const summary = functions
      .map(([, r]) => {
        const v = r.Properties.Environment.Variables;
        return [
          r.Properties.FunctionName,
          v.INFERBUS_TIER,
          v.INFERBUS_LAST_TIER,
          v.MODEL_NAME,
          v.CASCADE_THRESHOLD,
        ];
      })
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(summary).toEqual([
      ['inferbus-dev-spam-tier1', '1', 'false', 'tier1', '0.9'],
      ['inferbus-dev-spam-tier2', '2', 'true', 'tier2', undefined],
      ['inferbus-dev-triage-tier1', '1', 'false', 'tier1', 'manifest'],
      ['inferbus-dev-triage-tier2', '2', 'false', 'tier2-int8', 'manifest'],
      ['inferbus-dev-triage-tier3', '3', 'true', 'tier2', undefined],
    ]);
  });

  it("gives each function only its own task's models layer", () => {
    const template = s.template.toJSON().Resources as Record<string, Resource>;
    for (const tier of allTiers(s.stack)) {
      const fn = template[logicalId(tier.function)] as Resource;
      const modelFolders = (fn.Properties.Layers as { Ref: string }[])
        .map((layer) => join(s.outdir, template[layer.Ref]?.Metadata?.['aws:asset:path'] as string, 'models'))
        .filter((dir) => existsSync(dir))
        .flatMap((dir) => readdirSync(dir));
      expect(modelFolders, `${tier.task} tier ${tier.tier}`).toEqual([tier.task]);
    }
  });

  it('names queues by task and tier', () => {
    const names = resources('AWS::SQS::Queue')
      .map(([, r]) => r.Properties.QueueName as string | undefined)
      .filter((name): name is string => name?.startsWith('inferbus-dev-triage-') ?? false);
    expect(names.sort()).toEqual(
      ['t1', 't2', 't3'].flatMap((t) =>
        ['acme', 'globex'].flatMap((tenant) => [
          `inferbus-dev-triage-${t}-${tenant}`,
          `inferbus-dev-triage-${t}-${tenant}-dlq`,
        ]),
      ),
    );
  });

  it('reads back, for the CLI, the routed tenants and tasks (default first) and the tiers of each task', () => {
    const deployment = readStageDeployment('inferbus-dev', s.outdir);
    expect(deployment?.routedTenants).toEqual(['acme', 'globex']);
    expect(deployment?.routedTasks).toEqual(['spam', 'triage']);
    expect([...(deployment?.tasks.keys() ?? [])]).toEqual(['spam', 'triage']);
    const spam = deployment?.tasks.get('spam');
    expect([...(spam?.values() ?? [])].map((t) => [t.tier, t.modelName, t.threshold])).toEqual([
      [1, 'tier1', 0.9],
      [2, 'tier2', undefined],
    ]);
  });

  describe('routing, by the local pattern engine over the template', () => {
    const event = (source: string, detailType: string, detail: Record<string, unknown>) => ({
      version: '0',
      id: 'e1',
      'detail-type': detailType,
      source,
      account: '123456789012',
      time: '2026-12-07T00:00:00Z',
      region: 'eu-west-1',
      resources: [],
      detail: { id: 'r1', tenant: 'acme', ...detail },
    });
    /** Which queues the template's rules deliver `e` to, by short name (`triage-t2-acme`, `unrouted`). */
    const destinations = (e: unknown) => {
      const names = new Map<string, string>();
      for (const tier of allTiers(s.stack)) {
        for (const lane of tier.lanes)
          names.set(logicalId(lane.queue), `${tier.task}-t${tier.tier}-${lane.tenantId}`);
      }
      names.set(logicalId(s.stack.unrouted.queue), 'unrouted');
      return resources('AWS::Events::Rule')
        .filter(([, r]) => matchesPattern(r.Properties.EventPattern, e))
        .flatMap(([, r]) => r.Properties.Targets.map((t: any) => names.get(t.Arn['Fn::GetAtt'][0])))
        .filter((name): name is string => name !== undefined);
    };

    it('sends a request without a task to the first task', () => {
      expect(destinations(event('inferbus.acme', 'InferenceRequested', { payload: { text: 'hi' } }))).toEqual(
        ['spam-t1-acme'],
      );
    });

    it('sends a request to the task it names', () => {
      expect(destinations(event('inferbus.acme', 'InferenceRequested', { task: 'triage' }))).toEqual([
        'triage-t1-acme',
      ]);
      expect(destinations(event('inferbus.acme', 'InferenceRequested', { task: 'spam' }))).toEqual([
        'spam-t1-acme',
      ]);
    });

    it.each([['sensor'], [null], [3], ['TRIAGE']])(
      'sends a request for task %j to the unrouted queue only',
      (task) => {
        expect(destinations(event('inferbus.acme', 'InferenceRequested', { task }))).toEqual(['unrouted']);
      },
    );

    it('sends each escalation to the next tier of its own task', () => {
      const escalation = (task: string, tier: number) =>
        event('inferbus.results', 'EscalationRequested', { payload: { task, tier } });
      expect(destinations(escalation('triage', 1))).toEqual(['triage-t2-acme']);
      expect(destinations(escalation('triage', 2))).toEqual(['triage-t3-acme']);
      expect(destinations(escalation('spam', 1))).toEqual(['spam-t2-acme']);
    });
  });

  describe('least privilege per function', () => {
    const statementsOf = (task: string, tier: number) => {
      const role = logicalId(tierOf(s.stack, task, tier).function.role as never);
      return resources('AWS::IAM::Policy')
        .filter(([, p]) => p.Properties.Roles.some((r: any) => r.Ref === role))
        .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
    };

    it.each([
      ['triage', 3],
      ['triage', 2],
      ['spam', 2],
    ] as const)('%s tier %i sends only to its own DLQs and reads only its own queues', (task, tier) => {
      const lanes = tierOf(s.stack, task, tier).lanes;
      const arnOf = (q: any) => ({ 'Fn::GetAtt': [logicalId(q), 'Arn'] });
      const resourcesFor = (action: string) =>
        statementsOf(task, tier)
          .filter((st) => [st.Action].flat().includes(action))
          .flatMap((st) => [st.Resource].flat());
      expect(resourcesFor('sqs:SendMessage')).toEqual(lanes.map((l) => arnOf(l.deadLetterQueue)));
      expect(resourcesFor('sqs:ReceiveMessage').sort()).toEqual(lanes.map((l) => arnOf(l.queue)).sort());
      expect(JSON.stringify(statementsOf(task, tier))).not.toContain('dynamodb:');
    });

    it('reserves results to all five handler roles', () => {
      const deny = resources('AWS::Events::EventBusPolicy')
        .map(([, p]) => p.Properties.Statement)
        .find((st) => st.Sid === 'cdk-OnlyHandlersUseResultSource');
      const roles = allTiers(s.stack).map((tier) => ({
        'Fn::GetAtt': [logicalId(tier.function.role as never), 'Arn'],
      }));
      expect(deny.Condition.ArnNotEquals['aws:PrincipalArn']).toEqual(roles);
      expect(roles).toHaveLength(5);
    });
  });
});

describe('a stage whose tiers do not fit their manifests fails synth', () => {
  const synthFails = (edit: Parameters<typeof writeTwoTaskConfig>[0], dir = modelsDir): string => {
    try {
      synth({ stage: 'dev', config: writeTwoTaskConfig(edit), modelsDir: dir });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('expected synth to fail');
  };
  const triageTiers = (config: { tasks: unknown[] }) =>
    (config.tasks[1] as { tiers: Record<string, unknown>[] }).tiers;

  it('names a threshold outside [1/K, 1] by its place in the configuration', () => {
    const message = synthFails((config) => {
      (triageTiers(config)[0] as Record<string, unknown>).threshold = 0.2;
    });
    expect(message).toContain('stage "dev"');
    expect(message).toMatch(
      /tasks\[1\]\.tiers\[0\]\.threshold: 0\.2 is outside \[1\/2, 1\]: task triage has 2 labels \(ham, spam\)/,
    );
  });

  it('names a model the manifest does not have, and the ones it has', () => {
    const message = synthFails((config) => {
      (triageTiers(config)[2] as Record<string, unknown>).model = 'tier3';
    });
    expect(message).toMatch(
      /tasks\[1\]\.tiers\[2\]\.model: task triage has no model "tier3" in .*triage\/manifest\.json \(it has tier1, tier2, tier2-int8\)/,
    );
  });

  it('asks for a threshold on every tier but the last', () => {
    const message = synthFails((config) => {
      delete (triageTiers(config)[1] as Record<string, unknown>).threshold;
    });
    expect(message).toMatch(/tasks\[1\]\.tiers\[1\]\.threshold: tier 2 of 3 needs a threshold/);
  });

  it('refuses "manifest" where the manifest calibrated no cascade over these tiers', () => {
    const message = synthFails((config) => {
      triageTiers(config).splice(1, 1);
    });
    expect(message).toMatch(
      /tasks\[1\]\.tiers\[0\]\.threshold: "manifest", but triage's manifest calibrated no cascade over \[tier1, tier2\] \(it has \[tier1, tier2-int8, tier2\]\)/,
    );
  });

  it('fails loudly, naming the file, for a task without models instead of leaving it out', () => {
    const message = synthFails((config) => {
      config.tasks.push({
        id: 'sensor',
        tiers: [tierSettings('tiny', { threshold: 0.9 }), tierSettings('mlp')],
      });
    });
    expect(message).toMatch(/tasks\[2\]\.id: .*sensor\/manifest\.json is missing: task sensor has no models/);
  });

  it('refuses a manifest filed under another task', () => {
    const dir = writeTwoTaskModels();
    copyFileSync(join(dir, 'spam', 'manifest.json'), join(dir, 'triage', 'manifest.json'));
    const message = synthFails(() => {}, dir);
    expect(message).toMatch(/tasks\[1\]\.id: .*triage\/manifest\.json declares task spam/);
  });
});

describe('TierModel and InferenceTier, used directly', () => {
  it('carries the task, model, file, sha256 and labels from the manifest', () => {
    const model = TierModel.fromManifest(modelsDir, 'triage', 'tier2-int8');
    expect(model).toMatchObject({
      taskId: 'triage',
      modelName: 'tier2-int8',
      file: 'tier2-int8.onnx',
      labels: ['ham', 'spam'],
    });
    expect(model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(() => TierModel.fromManifest(modelsDir, 'triage', 'nope')).toThrow(TierModelError);
    expect(() => TierModel.fromManifest(modelsDir, 'absent', 'tier1')).toThrow(
      /absent\/manifest\.json is missing/,
    );
  });

  it('refuses a threshold the tier cannot use, before building anything', () => {
    const props = (overrides: Partial<InferenceTierProps>): InferenceTierProps =>
      ({
        stage: 'dev',
        model: TierModel.fromManifest(modelsDir, 'triage', 'tier1'),
        tier: 1,
        lastTier: false,
        threshold: 0.8,
        tenants: [{ id: 'acme', maxConcurrencyShare: 1 }],
        batchSize: 10,
        maxBatchingWindow: Duration.seconds(1),
        provisionedConcurrency: { min: 0, max: 1, targetUtilization: 0.7 },
        architecture: lambda.Architecture.ARM_64,
        removalPolicy: RemovalPolicy.DESTROY,
        ...overrides,
      }) as InferenceTierProps;
    const build = (overrides: Partial<InferenceTierProps>) =>
      new InferenceTier(new Stack(new App(), 'S'), 'T', props(overrides));
    expect(() => build({ threshold: 0.3 })).toThrow(
      /InferenceTier triage tier 1: threshold 0.3 is outside \[1\/2, 1\] for task triage's 2 labels/,
    );
    expect(() => build({ threshold: undefined })).toThrow(/every tier but the last needs a threshold/);
    expect(() => build({ lastTier: true })).toThrow(
      /the last tier answers every request it gets, so it takes no threshold/,
    );
  });
});
