import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { createApp } from '../../lib/app';
import type { InferbusStack } from '../../lib/stacks/inferbus-stack';

export interface Synthesized {
  readonly stack: InferbusStack;
  readonly template: Template;
  readonly outdir: string;
}

const cache = new Map<string, Synthesized>();

/**
 * Synthesizes the real app once per context in this test process (with cdk-nag, as `cdk synth`
 * runs it) and returns the stack and its template. Asset metadata is on, as the CLI sets it,
 * because `sam local invoke` depends on it.
 */
export function synth(context: Record<string, unknown> = { stage: 'dev' }): Synthesized {
  const key = JSON.stringify(context);
  const cached = cache.get(key);
  if (cached) return cached;
  const outdir = mkdtempSync(join(tmpdir(), 'inferbus-synth-'));
  const { app, stack } = createApp({
    outdir,
    context: { 'aws:cdk:enable-asset-metadata': true, ...context },
  });
  app.synth();
  const result = { stack, template: Template.fromStack(stack), outdir };
  cache.set(key, result);
  return result;
}

/** Every inference tier of every task, in stage order. */
export const allTiers = (stack: InferbusStack) => stack.tasks.flatMap((task) => task.tiers);

/** Tier `tier` (1-based) of `task`; throws when the stage has none. */
export function tierOf(stack: InferbusStack, task: string, tier: number) {
  const found = stack.tasks.find((t) => t.id === task)?.tiers[tier - 1];
  if (!found) throw new Error(`stack ${stack.stackName} has no tier ${tier} of task ${task}`);
  return found;
}
