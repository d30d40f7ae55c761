import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError } from '../../cli/errors';
import type { DeployedTier, StageDeployment } from '../../cli/stage-template';
import { runTaskCascade } from '../../cli/task-cascade';
import {
  chooseTasks,
  loadPlanScorers,
  manifestPathOf,
  planCascade,
  readManifestFile,
} from '../../cli/task-plan';
import type { Manifest } from '../../functions/core/manifest';
import type { ModelScorer } from '../../functions/inference/model';

const path = manifestPathOf('spam');
let manifest: Manifest;
let scorers: ModelScorer[];

const tier = (t: Partial<DeployedTier> & { task: string; tier: number }): DeployedTier => ({
  memoryMiB: 1024,
  architecture: 'arm64',
  batchSize: 10,
  provisionedConcurrency: 0,
  lastTier: false,
  ...t,
});
const deploymentOf = (...tiers: DeployedTier[]): StageDeployment => {
  const tasks = new Map<string, Map<number, DeployedTier>>();
  for (const t of tiers) tasks.set(t.task, (tasks.get(t.task) ?? new Map()).set(t.tier, t));
  return { templatePath: 'fixture.json', tasks, routedTenants: [], routedTasks: [...tasks.keys()] };
};

beforeAll(async () => {
  manifest = await readManifestFile(path);
  scorers = await loadPlanScorers(planCascade(path, manifest, undefined, { useStageThresholds: false }));
});
afterAll(async () => {
  await Promise.all(scorers.map((s) => s.release()));
});

describe('planCascade: which models and thresholds a task replays with', () => {
  it("runs the stage's models at the stage's threshold, else the manifest's cascade", () => {
    const deployed = deploymentOf(
      tier({ task: 'spam', tier: 1, modelName: 'tier1', threshold: 0.9 }),
      tier({ task: 'spam', tier: 2, modelName: 'tier2-int8', lastTier: true }),
    );
    expect(planCascade(path, manifest, deployed, { useStageThresholds: true })).toMatchObject({
      task: 'spam',
      models: ['tier1', 'tier2-int8'],
      thresholds: [0.9],
      thresholdFrom: 'stage CASCADE_THRESHOLD',
    });
    // A candidate ignores the stage's threshold: its own manifest's calibration applies.
    expect(planCascade(path, manifest, deployed, { useStageThresholds: false })).toMatchObject({
      models: ['tier1', 'tier2-int8'],
      thresholds: [manifest.cascades[1]?.thresholds[0]],
      thresholdFrom: 'manifest cascade',
    });
    expect(planCascade(path, manifest, undefined, { useStageThresholds: true })).toMatchObject({
      models: manifest.cascades[0]?.tiers,
      thresholdFrom: 'manifest cascade',
    });
  });

  it('checks --threshold against the task’s label count and names the range', () => {
    expect(
      planCascade(path, manifest, undefined, { override: 0.5, useStageThresholds: true }).thresholds,
    ).toEqual([0.5]);
    let error: unknown;
    try {
      planCascade(path, manifest, undefined, { override: 0.4, useStageThresholds: true });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CliError);
    expect((error as Error).message).toBe(
      '--threshold 0.4 is outside [1/2, 1] = [0.5000, 1] for task spam (2 labels)',
    );
  });

  it('refuses a stage model the manifest lacks when the manifest has no cascade, naming the models there are', () => {
    const bare = { ...manifest, cascades: [] };
    const deployed = deploymentOf(
      tier({ task: 'spam', tier: 1, modelName: 'tier9' }),
      tier({ task: 'spam', tier: 2, modelName: 'tier2', lastTier: true }),
    );
    expect(() => planCascade(path, bare, deployed, { useStageThresholds: true })).toThrow(
      /has no model named tier9 \(it has tier1, tier2, tier2-int8\)/,
    );
    expect(() => planCascade(path, bare, undefined, { useStageThresholds: true })).toThrow(/has no cascade/);
  });

  it('chooses the requested tasks among those there are, or all of them', () => {
    expect(chooseTasks([], ['spam', 'sensor'], 'x')).toEqual(['spam', 'sensor']);
    expect(chooseTasks(['sensor'], ['spam', 'sensor'], 'x')).toEqual(['sensor']);
    expect(() => chooseTasks(['nope'], ['spam'], 'stage dev')).toThrow(
      '--task nope: not a task of stage dev (it has spam)',
    );
    expect(() => chooseTasks([], [], 'stage dev')).toThrow(/no task found/);
  });
});

describe('runTaskCascade: the handlers’ cascade rule on this machine', () => {
  const inputs = [
    { text: 'Subject: meeting\n\nSee you at the standup tomorrow, the notes are in the wiki.' },
    { text: 'WIN a FREE prize now!!! Click here to claim your cash reward, limited offer' },
    { features: [1, 2, 3] },
    { text: 'Lunch on Friday? The usual place near the office.' },
  ];

  it('answers at tier 1 at threshold 1/K, escalates all but certainties at 1, and rejects what an encoder refuses', async () => {
    const low = await runTaskCascade(scorers, [0.5], inputs, 2);
    expect(low.reached.map((r) => r.length)).toEqual([4, 0]);
    expect(low.answers.map((a) => a?.tier)).toEqual([1, 1, undefined, 1]);
    expect(low.rejected.get(2)).toMatch(/takes text/);
    const high = await runTaskCascade(scorers, [1], inputs, 3);
    expect(high.reached[1]?.length).toBeGreaterThan(0);
    for (const i of high.reached[1] ?? []) expect(high.answers[i]?.tier).toBe(2);
    for (const a of high.answers) if (a) expect(['ham', 'spam']).toContain(a.label);
  });

  it('gives the same answers whatever the batch size', async () => {
    const one = await runTaskCascade(scorers, [0.99], inputs, 1);
    const all = await runTaskCascade(scorers, [0.99], inputs, 64);
    expect(all.answers).toEqual(one.answers);
    await expect(runTaskCascade(scorers, [], inputs, 1)).rejects.toThrow(/needs 1 thresholds/);
  });
});
