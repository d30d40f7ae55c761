import type { LocalRuntime } from '../../local/runtime';

/**
 * The workload one tier of a task saw in a run, from the runtime's own counters (not from the
 * billed units): its function, batch size, records and batches its pollers delivered, and the
 * mean invocation duration. The metering tests feed these to the cost model.
 */
export function tierRunStats(rt: LocalRuntime, task: string, tier: number) {
  const fn = rt.model.functions.find(
    (f) => f.environment.INFERBUS_TASK === task && f.environment.INFERBUS_TIER === String(tier),
  );
  if (!fn) throw new Error(`no function for tier ${tier} of task ${task} in the template`);
  // The runtime starts one poller per enabled mapping, in the template's order.
  const enabled = rt.model.eventSourceMappings.filter((e) => e.enabled);
  const stats = rt.pollers
    .filter((_, i) => enabled[i]?.functionLogicalId === fn.logicalId)
    .map((p) => p.stats());
  const runner = rt.lambda.metrics().find((f) => f.logicalId === fn.logicalId);
  const batchSize =
    rt.model.eventSourceMappings.find((e) => e.functionLogicalId === fn.logicalId)?.batchSize ?? 1;
  return {
    fn,
    batchSize,
    records: stats.reduce((s, x) => s + x.records, 0),
    batches: stats.reduce((s, x) => s + x.batches, 0),
    meanMs: runner && runner.durationMs.count > 0 ? runner.durationMs.sumMs / runner.durationMs.count : 0,
  };
}
