import { beforeAll, describe, expect, it } from 'vitest';
import { ARCHIVE_COLUMNS } from '../../functions/core/archive/columns';
import { archiveRowOf } from '../../functions/core/archive/rows';
import { ARCHIVE_SHAPES } from '../../functions/core/archive/rules';
import type { Envelope } from '../../functions/core/envelope';
import { DetailType, tenantSource } from '../../functions/core/events';
import type { InferenceRequest } from '../../functions/core/inference';
import { createPackCodec } from '../../functions/core/packing/codec';
import { planPacks } from '../../functions/core/packing/pack';
import type { PutEventsEntry } from '../../functions/core/put-events';
import {
  failureEntry,
  type ResultSource,
  resultEntry,
  resultPayload,
  sequenceGapEntry,
} from '../../functions/inference/batch-entries';
import type { PendingLetter } from '../../functions/inference/batch-failures';
import { compilePattern, matchesPattern } from '../../local/eventbridge/pattern';
import { applyInputTransformer } from '../../local/eventbridge/transform';
import { columnCodec } from '../../local/firehose/glue-types';
import { convertRecord } from '../../local/firehose/openx';
import { type Synthesized, synth } from './synth';

/** Fields every EventBridge event has (PutEvents refuses an entry without Source, DetailType, Detail). */
const EVENT_FIELDS = new Set([
  'version',
  'id',
  'detail-type',
  'source',
  'account',
  'time',
  'region',
  'resources',
  'detail',
]);

interface ArchiveRuleResource {
  readonly id: string;
  readonly pattern: unknown;
  readonly transformer: { inputPathsMap: Record<string, string>; inputTemplate: string };
}

let s: Synthesized;
let rules: ArchiveRuleResource[];

beforeAll(() => {
  s = synth();
  const resources = s.template.toJSON().Resources as Record<string, any>;
  rules = s.stack.archive.rules.map((rule) => {
    const id = s.stack.getLogicalId(rule.node.defaultChild as never);
    const properties = resources[id].Properties;
    expect(properties.Targets, id).toHaveLength(1);
    const { InputPathsMap, InputTemplate } = properties.Targets[0].InputTransformer;
    return {
      id,
      pattern: properties.EventPattern,
      transformer: { inputPathsMap: InputPathsMap ?? {}, inputTemplate: InputTemplate },
    };
  });
});

/** Whether every event matching this $or branch has a value at `path` (`$.a.b`). */
function guaranteedBy(
  branch: readonly { key: string; matchers: readonly { kind: string; exists?: boolean }[] }[],
  path: string,
) {
  const key = path.slice(2);
  if (EVENT_FIELDS.has(key)) return true;
  // A field is there when none of its matchers accepts its absence; an ancestor of one is there too.
  return branch.some(
    (condition) =>
      (condition.key === key || condition.key.startsWith(`${key}.`)) &&
      condition.matchers.every((m) => !(m.kind === 'exists' && m.exists === false)),
  );
}

describe('archive rules (synthesized)', () => {
  it('give every record only paths that the rule pattern guarantees, in every $or branch', () => {
    expect(rules.length).toBeGreaterThan(1);
    for (const rule of rules) {
      for (const branch of compilePattern(rule.pattern).branches) {
        for (const [name, path] of Object.entries(rule.transformer.inputPathsMap)) {
          expect(
            guaranteedBy(branch, path),
            `${rule.id}: <${name}> is ${path}, which its pattern does not guarantee`,
          ).toBe(true);
        }
      }
      const placeholders = [...rule.transformer.inputTemplate.matchAll(/<([^>]+)>/g)].map(
        (m) => m[1] as string,
      );
      for (const name of placeholders) {
        expect(
          name.startsWith('aws.events.') || Object.hasOwn(rule.transformer.inputPathsMap, name),
          `${rule.id}: <${name}>`,
        ).toBe(true);
      }
    }
  });

  it('write records whose keys are archive columns, in table order, and fill every column somewhere', () => {
    const names = ARCHIVE_COLUMNS.map((c) => c.name);
    const filled = new Set<string>();
    for (const rule of rules) {
      const keys = Object.keys(JSON.parse(rule.transformer.inputTemplate.replace(/<[^>]+>/g, 'null')));
      expect(keys, rule.id).toEqual(names.filter((n) => keys.includes(n)));
      for (const key of keys) filled.add(key);
    }
    expect([...filled].sort()).toEqual([...names].sort());
  });
});

// ---- every event a bus can carry matches exactly one archive rule, and converts to a row ----

const TIME = new Date('2026-11-28T12:00:00.000Z');

function eventOf(entry: PutEventsEntry, id: string) {
  return {
    version: '0',
    id,
    'detail-type': entry.DetailType,
    source: entry.Source,
    account: '000000000000',
    time: '2026-11-28T12:00:00Z',
    region: 'eu-west-1',
    resources: [],
    detail: JSON.parse(entry.Detail as string),
  };
}

function published(): { name: string; entry: PutEventsEntry }[] {
  const envelope: Envelope = {
    id: 'r1',
    tenant: 'acme',
    stream: 'inbox',
    seq: 1,
    hlc: '1-0-n',
    type: 'message.received',
    payload: { text: 'hello', expectedLabel: 'ham' },
    metadata: {},
    time: TIME.toISOString(),
  };
  const request = (payload: InferenceRequest): PutEventsEntry => ({
    Source: tenantSource('acme'),
    DetailType: DetailType.InferenceRequested,
    Detail: JSON.stringify({ ...envelope, payload }),
  });
  const task = { id: 'spam', labels: ['ham', 'spam'], input: { kind: 'text' as const } };
  const item = (payload: InferenceRequest): ResultSource => ({
    request: payload,
    envelope: { ...envelope, payload },
    input: payload.features ? { features: payload.features } : { text: 'hello' },
  });
  const decision = { label: 'ham', labelIndex: 0, score: 0.9, escalate: false };
  const result = (payload: InferenceRequest, kind: 'completed' | 'escalated') =>
    resultEntry(
      item(payload),
      resultPayload(item(payload), {
        task,
        tier: 1,
        model: 'm',
        modelVersion: 'm@1',
        decision,
        probabilities: [0.9, 0.1],
        duplicate: false,
        inferenceMs: 3,
      }),
      kind,
      TIME,
    );
  const labelled: InferenceRequest = { text: 'hello', expectedLabel: 'ham' };
  const unlabelled: InferenceRequest = { text: 'hello' };
  const claimed: InferenceRequest = { claim: { bucket: 'bkt', key: 'claims/acme/r1' } };
  const vector: InferenceRequest = { features: [0.5, 1.5], expectedLabel: 'ham' };
  const letter = {
    letter: { errorCode: 'ModelError', errorMessage: 'boom', attempts: 3 },
    record: { messageId: 'm1' },
    tenant: 'acme',
    sourceId: 'r1',
  } as unknown as PendingLetter;
  const withTask = (entry: PutEventsEntry): PutEventsEntry => ({
    ...entry,
    Detail: JSON.stringify({ ...JSON.parse(entry.Detail as string), task: 'spam' }),
  });
  return [
    { name: 'request with label', entry: request(labelled) },
    { name: 'request without label', entry: request(unlabelled) },
    { name: 'request naming its task, with label', entry: withTask(request(labelled)) },
    { name: 'request naming its task, without label', entry: withTask(request(unlabelled)) },
    { name: 'claim-checked request', entry: request(claimed) },
    { name: 'features request with label', entry: withTask(request(vector)) },
    { name: 'completed with label', entry: result(labelled, 'completed') },
    { name: 'completed without label', entry: result(unlabelled, 'completed') },
    { name: 'escalation', entry: result(labelled, 'escalated') },
    { name: 'escalation of a claim', entry: result(claimed, 'escalated') },
    { name: 'escalation of features with label', entry: result(vector, 'escalated') },
    { name: 'failure', entry: failureEntry(letter, 'spam', 2, TIME) },
    {
      name: 'sequence gap',
      entry: sequenceGapEntry(
        item(labelled),
        'spam',
        { missingFrom: 1, missingTo: 2, heldForMs: 5 } as never,
        TIME,
      ),
    },
  ];
}

/** Every leaf path of a JSON value, as key lists. */
function leaves(value: unknown, path: string[] = []): string[][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return path.length ? [path] : [];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
}

function edited(
  detail: unknown,
  path: string[],
  edit: (parent: Record<string, unknown>, key: string) => void,
) {
  const copy = structuredClone(detail) as Record<string, unknown>;
  let parent = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string, unknown>;
  edit(parent, path.at(-1) as string);
  return copy;
}

/** What inferbus publishes, and each of those with one leaf missing, an object, an array or null. */
function corpus(): { name: string; event: ReturnType<typeof eventOf> }[] {
  const events: { name: string; event: ReturnType<typeof eventOf> }[] = [];
  let n = 0;
  const [first] = published();
  if (!first) throw new Error('published() gave no event');
  for (const { name, entry } of published()) {
    const event = eventOf(entry, `e${n++}`);
    events.push({ name, event });
    for (const leaf of leaves(event.detail)) {
      const variants: [string, (p: Record<string, unknown>, k: string) => void][] = [
        ['without', (p, k) => delete p[k]],
        ['object at', (p, k) => (p[k] = { x: 1 })],
        ['array at', (p, k) => (p[k] = [p[k]])],
        ['null at', (p, k) => (p[k] = null)],
      ];
      for (const [how, edit] of variants) {
        events.push({
          name: `${name}, ${how} ${leaf.join('.')}`,
          event: { ...event, id: `e${n++}`, detail: edited(event.detail, leaf, edit) },
        });
      }
    }
    events.push({
      name: `${name}, payload a string`,
      event: { ...event, id: `e${n++}`, detail: { ...event.detail, payload: 'p' } },
    });
    events.push({
      name: `${name}, other detail-type`,
      event: { ...event, id: `e${n++}`, 'detail-type': 'Custom' },
    });
  }
  events.push({ name: 'empty detail', event: { ...eventOf(first.entry, `e${n++}`), detail: {} } });
  events.push({
    name: 'foreign event',
    event: {
      ...eventOf(first.entry, `e${n++}`),
      source: 'acme.billing',
      'detail-type': 'Invoice',
      detail: { total: 3 },
    },
  });
  return events;
}

describe('archive rules against every shape of event', () => {
  it('archive each event exactly once, as a record the Glue table converts', () => {
    const columns = ARCHIVE_COLUMNS.map((c) => columnCodec(c.name, c.type));
    const failures: string[] = [];
    const byRule = new Map<string, number>();
    for (const { name, event } of corpus()) {
      const matched = rules.filter((rule) => matchesPattern(rule.pattern, event));
      if (matched.length !== 1) {
        failures.push(
          `${name}: matched ${matched.length} archive rules (${matched.map((r) => r.id).join(', ')})`,
        );
        continue;
      }
      const rule = matched[0] as ArchiveRuleResource;
      byRule.set(rule.id, (byRule.get(rule.id) ?? 0) + 1);
      let record: string;
      try {
        record = applyInputTransformer(rule.transformer, event, {
          ruleArn: 'arn:aws:events:eu-west-1:000000000000:rule/x',
          ruleName: rule.id,
          ingestionTime: TIME,
        });
      } catch (error) {
        failures.push(`${name}: ${rule.id}: ${(error as Error).message}`);
        continue;
      }
      const row = JSON.parse(record);
      if (row.event_id !== event.id || row.detail_type !== event['detail-type']) {
        failures.push(`${name}: ${rule.id} wrote ${record}`);
      }
      const converted = convertRecord(columns, record);
      // A leaf made an object or array where a typed column expects a scalar cannot convert:
      // Firehose writes it under errors/ (and the FailedConversion.Records alarm fires).
      const forcedType =
        /(object|array) at payload\.(tier|score|latencyMs|duplicate)$|(object|array) at seq$/;
      if (!converted.ok && !forcedType.test(name)) failures.push(`${name}: ${converted.message}`);
    }
    expect(failures).toEqual([]);
    // Every rule is some event's only rule: none is dead, none shadows another.
    expect([...byRule.keys()].sort()).toEqual(rules.map((r) => r.id).sort());
  });

  it('know a shape for every detail-type inferbus publishes', () => {
    expect(ARCHIVE_SHAPES.map((shape) => shape.detailType).sort()).toEqual(Object.values(DetailType).sort());
  });

  it('keep the columns of what inferbus publishes', () => {
    for (const { name, entry } of published()) {
      const event = eventOf(entry, 'e');
      const [rule] = rules.filter((r) => matchesPattern(r.pattern, event));
      const row = JSON.parse(
        applyInputTransformer((rule as ArchiveRuleResource).transformer, event, {
          ruleArn: 'arn',
          ruleName: 'r',
          ingestionTime: TIME,
        }),
      );
      expect(row, name).toMatchObject({
        envelope_id: event.detail.id,
        tenant: 'acme',
        payload: event.detail.payload,
      });
      // Requests name their task or not; the handlers' events always do.
      if (name.startsWith('request') || name.startsWith('claim') || name.startsWith('features request')) {
        if (event.detail.task) expect(row.task, name).toBe('spam');
        else expect(row, name).not.toHaveProperty('task');
      } else expect(row.task, name).toBe('spam');
      if (name.startsWith('completed') || name.startsWith('escalation')) {
        // Every label's probability, in the payload's JSON text.
        expect(row.payload.probabilities, name).toEqual({ ham: 0.9, spam: 0.1 });
        expect(row, name).toMatchObject({
          tier: 1,
          label: 'ham',
          score: 0.9,
          model_version: 'm@1',
          latency_ms: 3,
        });
      }
      if (name === 'failure')
        expect(row).toMatchObject({ error_code: 'ModelError', error_message: 'boom', tier: 2 });
      if (name.includes('with label') || name === 'escalation') expect(row.expected_label, name).toBe('ham');
      else expect(row, name).not.toHaveProperty('expected_label');
    }
  });
});

describe('packs and the archive: one row per request', () => {
  it('archive no pack as a row of its own, plain or encoded, request or result', async () => {
    const codec = await createPackCodec();
    const entries = published().map((p) => p.entry);
    const inputs = [...entries, ...entries].map((entry, i) => {
      const detail = JSON.parse(entry.Detail as string);
      return {
        envelope: { ...detail, id: `${detail.id}-${i}` },
        source: entry.Source,
        detailType: entry.DetailType,
      };
    });
    let packs = 0;
    for (const encoder of [undefined, codec]) {
      for (const { entry, indexes } of planPacks(inputs, undefined, encoder)) {
        if (indexes.length < 2) continue;
        packs++;
        const event = eventOf(entry, `pack-${packs}`);
        const matched = rules.filter((rule) => matchesPattern(rule.pattern, event)).map((r) => r.id);
        expect(matched, entry.Detail).toEqual([]);
      }
    }
    expect(packs).toBeGreaterThanOrEqual(8);
  });

  it("make the handlers' rows byte for byte what the rule's transformer makes for the same single event", () => {
    let compared = 0;
    for (const { name, event } of corpus()) {
      const [rule, ...others] = rules.filter((r) => matchesPattern(r.pattern, event));
      if (!rule || others.length > 0) continue;
      const expected = applyInputTransformer(rule.transformer, event, {
        ruleArn: 'arn:aws:events:eu-west-1:000000000000:rule/x',
        ruleName: rule.id,
        ingestionTime: TIME,
      });
      expect(archiveRowOf(event, TIME.toISOString()), name).toBe(expected);
      compared++;
    }
    expect(compared).toBeGreaterThan(100);
  });
});
