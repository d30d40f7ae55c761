// Sample traffic for the `npm start` demo, `inferbus events sample`, the benchmarks and fault runs.
// Generic over tasks: the held-out examples come from each task's definition (functions/tasks/<id>/,
// loaded by local/demo/sample-events.ts), so this file names no task and imports no dataset.
import type { EnvelopeInput } from '../core/envelope';
import { DetailType, tenantSource } from '../core/events';
import { MAX_ENTRY_BYTES, type PutEventsEntry } from '../core/put-events';
import type { TaskInput } from '../core/task/inputs';
import { stratifiedOrder } from './stratified';

/** What a sample entry is meant to exercise, so the demo can check each ends where it should. */
export type SampleKind = 'valid' | 'poison' | 'malformed-detail' | 'oversized';

/** One labelled held-out example (a task definition's `LabelledExample` fits). */
export interface SampleExample {
  readonly id: string;
  readonly input: TaskInput;
  readonly label: string;
}

/** A task's held-out examples: the test split, never what its models trained on. */
export interface TaskSamples {
  readonly task: string;
  readonly examples: readonly SampleExample[];
}

export interface SampleEntry {
  readonly kind: SampleKind;
  /** Envelope id for entries that carry one. */
  readonly id?: string;
  readonly tenant: string;
  /** The task a request is for (absent on malformed and oversized probes). */
  readonly task?: string;
  readonly expectedLabel?: string;
  readonly entry: PutEventsEntry;
}

export interface SampleOptions {
  readonly count: number;
  readonly busName: string;
  readonly tenants: readonly { readonly id: string; readonly weight: number }[];
  /** The tasks to send requests for, in turn; at least one, each with at least one example. */
  readonly tasks: readonly TaskSamples[];
  /** Share of poison (valid JSON, invalid envelope) entries. @default 0.01 */
  readonly poisonShare?: number;
  /** How many entries with non-JSON detail and how many over the entry limit. @default 3 each */
  readonly rejected?: number;
  /** Seed of the order within each label (see {@link stratifiedOrder}). @default 1 */
  readonly seed?: number;
}

export class SampleError extends Error {
  override name = 'SampleError';
}

/** The envelope stream of a task's sample requests: sequence numbers count per (tenant, stream). */
export const sampleStream = (task: string): string => `inbox-${task}`;

/**
 * Sample traffic from the tasks' held-out examples, the tasks taking turns, spread over tenants by
 * weight, each with a per-(tenant, stream) sequence number, plus a few poison, malformed and
 * oversized entries. Any count carries each task's label mix (stratified, then the whole split
 * again past its size). Deterministic: the same options give the same entries.
 */
export function sampleEntries(options: SampleOptions): SampleEntry[] {
  if (options.tasks.length === 0) throw new SampleError('sample traffic needs at least one task');
  const ordered = options.tasks.map((t) => {
    if (t.examples.length === 0) {
      throw new SampleError(`task ${t.task} has no held-out examples to sample (its test split is empty)`);
    }
    const examples = [...t.examples].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { task: t.task, examples: stratifiedOrder(examples, (e) => e.label, options.seed) };
  });
  const pickTenant = weightedCycle(options.tenants);
  const seq = new Map<string, number>();
  const drawn = new Map<string, number>();
  const poisonEvery = Math.max(2, Math.round(1 / (options.poisonShare ?? 0.01)));
  const samples: SampleEntry[] = [];
  for (let i = 0; i < options.count; i++) {
    const { task, examples } = ordered[i % ordered.length] as (typeof ordered)[number];
    const n = drawn.get(task) ?? 0;
    drawn.set(task, n + 1);
    const example = examples[n % examples.length] as SampleExample;
    const tenant = pickTenant(i);
    const stream = sampleStream(task);
    const next = (seq.get(`${tenant}/${stream}`) ?? 0) + 1;
    seq.set(`${tenant}/${stream}`, next);
    const id = `demo-${task}-${tenant}-${String(next).padStart(6, '0')}`;
    const expectedLabel = example.label;
    const envelope: EnvelopeInput & { task: string } = {
      id,
      tenant,
      task,
      stream,
      seq: next,
      hlc: `${Date.UTC(2026, 10, 28) + i}-0-demo`,
      type: 'message.received',
      payload: { ...example.input, expectedLabel },
      metadata: { sampleId: example.id },
      time: new Date(Date.UTC(2026, 10, 28) + i).toISOString(),
    };
    const poison = i % poisonEvery === poisonEvery - 1;
    const detail = poison ? { ...envelope, payload: { note: 'neither text, claim nor features' } } : envelope;
    samples.push({
      kind: poison ? 'poison' : 'valid',
      id,
      tenant,
      task,
      expectedLabel: poison ? undefined : expectedLabel,
      entry: {
        EventBusName: options.busName,
        Source: tenantSource(tenant),
        DetailType: DetailType.InferenceRequested,
        Detail: JSON.stringify(detail),
      },
    });
  }
  const [first] = options.tenants;
  for (let i = 0; i < (options.rejected ?? 3) && first; i++) {
    const base = {
      EventBusName: options.busName,
      Source: tenantSource(first.id),
      DetailType: DetailType.InferenceRequested,
    };
    samples.push({
      kind: 'malformed-detail',
      tenant: first.id,
      entry: { ...base, Detail: `{"id": "broken-${i}", ` },
    });
    samples.push({
      kind: 'oversized',
      tenant: first.id,
      entry: { ...base, Detail: JSON.stringify({ id: `huge-${i}`, pad: 'x'.repeat(MAX_ENTRY_BYTES) }) },
    });
  }
  return samples;
}

/** Tenant for the i-th event, cycling through a pattern proportional to the weights. */
function weightedCycle(tenants: SampleOptions['tenants']): (i: number) => string {
  const pattern = tenants.flatMap((t) =>
    Array.from({ length: Math.max(1, Math.round(t.weight * 10)) }, () => t.id),
  );
  return (i) => pattern[i % pattern.length] as string;
}
