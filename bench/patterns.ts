/**
 * Event-pattern matching throughput: events per second from the event's JSON text to the list of
 * matching rule names, for 1, 100 and 1,000 rules, with and without wildcard rules.
 *
 * Workload (mirrors the event-ruler anchor measured on this machine kind): ~570-byte events shaped
 * like inferbus events, each matching about five rules at 100+ rules; rule mix 30% exact source +
 * detail-type, 15% source + detail-type list + detail field, 15% two nested exact fields, 10% prefix,
 * 5% each numeric range, second numeric range, anything-but list, exists true/false, wildcard, cidr.
 *
 * Run: npx tsx bench/patterns.ts [--quick]
 */
import { pathToFileURL } from 'node:url';
import { mulberry32 } from '../functions/core/prng';
import { RuleIndex } from '../local/eventbridge/pattern.js';

export interface PatternBenchRow {
  rules: number;
  wildcard: boolean;
  eventsPerSecond: number;
  avgMatchesPerEvent: number;
  runs: number[];
}

export interface PatternBenchResult {
  name: 'patterns';
  node: string;
  eventBytes: number;
  rows: PatternBenchRow[];
  /** aws/event-ruler measured on this machine kind (events/s). */
  anchor: Record<string, number>;
}

const ANCHOR = {
  'rules=1': 452_000,
  'rules=100': 46_000,
  'rules=1000': 17_000,
  'rules=100 no-wildcard': 97_000,
  'rules=1000 no-wildcard': 48_000,
};

const DETAIL_TYPES = ['InferenceRequested', 'InferenceCompleted', 'EscalationRequested', 'InferenceFailed'];
const TYPES = ['triage', 'classify', 'summarize', 'moderate'];
const MODELS = ['tier1', 'tier2', 'tier2-int8'];

/** Seeded, so every run sees the same data. */
const prng = mulberry32;

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

function hex(rand: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(rand() * 16).toString(16);
  return s;
}

function uuid(rand: () => number): string {
  return `${hex(rand, 8)}-${hex(rand, 4)}-4${hex(rand, 3)}-a${hex(rand, 3)}-${hex(rand, 12)}`;
}

function makeEvent(rand: () => number, tenants: number): string {
  const tenant = `t${Math.floor(rand() * tenants)}`;
  const time = `2026-03-${String(1 + Math.floor(rand() * 28)).padStart(2, '0')}T12:${String(Math.floor(rand() * 60)).padStart(2, '0')}:07.123Z`;
  const event = {
    version: '0',
    id: uuid(rand),
    'detail-type': pick(rand, DETAIL_TYPES),
    source: `inferbus.${tenant}`,
    account: '123456789012',
    time,
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:123456789012:event-bus/inferbus-dev'],
    detail: {
      id: uuid(rand),
      tenant,
      stream: `${tenant}-s${Math.floor(rand() * 100)}`,
      seq: Math.floor(rand() * 1_000_000),
      hlc: `${Date.UTC(2026, 2, 1) + Math.floor(rand() * 1e9)}:${Math.floor(rand() * 16)}`,
      type: pick(rand, TYPES),
      payload: {
        text: 'Win a prize now',
        score: Math.round(rand() * 1000) / 1000,
        tokens: Math.floor(rand() * 2048),
        model: pick(rand, MODELS),
        ...(rand() < 0.2 ? { error: 'timeout' } : {}),
      },
      metadata: {
        ip: `10.${Math.floor(rand() * 4)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}`,
        priority: Math.floor(rand() * 10),
        ...(rand() < 0.5 ? { client: 'sdk-js/3.1' } : {}),
      },
      time,
    },
  };
  return JSON.stringify(event);
}

type RuleMaker = (rand: () => number, tenant: string) => unknown;

const RULE_MIX: readonly { share: number; wildcard?: boolean; make: RuleMaker }[] = [
  {
    share: 0.3,
    make: (r, t) => ({ source: [`inferbus.${t}`], 'detail-type': [pick(r, DETAIL_TYPES)] }),
  },
  {
    share: 0.15,
    make: (r, t) => ({
      source: [`inferbus.${t}`],
      'detail-type': [DETAIL_TYPES[0], pick(r, DETAIL_TYPES.slice(1))],
      detail: { type: [pick(r, TYPES)] },
    }),
  },
  { share: 0.15, make: (r, t) => ({ detail: { tenant: [t], payload: { model: [pick(r, MODELS)] } } }) },
  { share: 0.1, make: (_r, t) => ({ detail: { stream: [{ prefix: `${t}-s` }] } }) },
  {
    share: 0.05,
    make: (r, t) => {
      const low = Math.floor(r() * 1500);
      return {
        source: [`inferbus.${t}`],
        detail: { payload: { tokens: [{ numeric: ['>=', low, '<', low + 512] }] } },
      };
    },
  },
  {
    share: 0.05,
    make: (r, t) => ({
      source: [`inferbus.${t}`],
      detail: { metadata: { priority: [{ numeric: ['>', Math.floor(r() * 8)] }] } },
    }),
  },
  {
    share: 0.05,
    make: (r, t) => ({
      source: [`inferbus.${t}`],
      detail: { type: [{ 'anything-but': [pick(r, TYPES.slice(0, 2)), pick(r, TYPES.slice(2))] }] },
    }),
  },
  {
    share: 0.05,
    make: (r, t) =>
      r() < 0.5
        ? { source: [`inferbus.${t}`], detail: { metadata: { client: [{ exists: true }] } } }
        : { source: [`inferbus.${t}`], detail: { payload: { error: [{ exists: false }] } } },
  },
  {
    share: 0.05,
    wildcard: true,
    make: (r, t) => ({ detail: { stream: [{ wildcard: `${t}-s*${Math.floor(r() * 10)}` }] } }),
  },
  {
    share: 0.05,
    make: (r, t) => ({
      source: [`inferbus.${t}`],
      detail: { metadata: { ip: [{ cidr: `10.${Math.floor(r() * 4)}.0.0/16` }] } },
    }),
  },
];

/** Tenant count that makes each event match about five rules (one tenant per ~14 rules). */
function tenantCount(rules: number): number {
  return Math.max(1, Math.round(rules / 14));
}

export function makeRules(count: number, withWildcard: boolean, seed = 7): [string, unknown][] {
  const rand = prng(seed);
  const mix = RULE_MIX.filter((m) => withWildcard || !m.wildcard);
  const total = mix.reduce((sum, m) => sum + m.share, 0);
  const tenants = tenantCount(count);
  const rules: [string, unknown][] = [];
  for (let i = 0; i < count; i++) {
    let roll = rand() * total;
    let maker = mix[0] as (typeof mix)[number];
    for (const m of mix) {
      maker = m;
      roll -= m.share;
      if (roll < 0) break;
    }
    rules.push([`rule-${i}`, maker.make(rand, `t${Math.floor(rand() * tenants)}`)]);
  }
  return rules;
}

export function makeEvents(count: number, rules: number, seed = 11): string[] {
  const rand = prng(seed);
  const tenants = tenantCount(rules);
  return Array.from({ length: count }, () => makeEvent(rand, tenants));
}

function measure(index: RuleIndex, events: readonly string[], millis: number): number {
  let processed = 0;
  let sink = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < millis) {
    for (const event of events) sink += index.matchJson(event).length;
    processed += events.length;
    elapsed = performance.now() - start;
  }
  if (sink < 0) console.log(sink); // keeps the work observable
  return (processed / elapsed) * 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

export async function runPatternBench({
  quick = false,
}: {
  quick?: boolean;
} = {}): Promise<PatternBenchResult> {
  const runs = quick ? 3 : 7;
  const millis = quick ? 200 : 600;
  const rows: PatternBenchRow[] = [];
  let eventBytes = 0;
  for (const withWildcard of [true, false]) {
    for (const count of [1, 100, 1000]) {
      if (!withWildcard && count === 1) continue;
      const index = new RuleIndex(makeRules(count, withWildcard));
      const events = makeEvents(2000, count);
      eventBytes = Math.round(events.reduce((s, e) => s + Buffer.byteLength(e), 0) / events.length);
      const avgMatches = events.reduce((s, e) => s + index.matchJson(e).length, 0) / events.length;
      measure(index, events, millis); // warm-up
      const samples: number[] = [];
      for (let i = 0; i < runs; i++) samples.push(Math.round(measure(index, events, millis)));
      rows.push({
        rules: count,
        wildcard: withWildcard,
        eventsPerSecond: median(samples),
        avgMatchesPerEvent: Math.round(avgMatches * 100) / 100,
        runs: samples,
      });
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return { name: 'patterns', node: process.version, eventBytes, rows, anchor: ANCHOR };
}

function anchorFor(row: PatternBenchRow): number | undefined {
  const key = row.wildcard ? `rules=${row.rules}` : `rules=${row.rules} no-wildcard`;
  return (ANCHOR as Record<string, number>)[key];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runPatternBench({ quick: process.argv.includes('--quick') });
  console.log(
    `event pattern matching, JSON text -> rule names (node ${result.node}, ~${result.eventBytes} B events)`,
  );
  console.log('rules  wildcard  events/s    matches/event  event-ruler  ratio');
  for (const row of result.rows) {
    const anchor = anchorFor(row);
    console.log(
      [
        String(row.rules).padStart(5),
        (row.wildcard ? 'yes' : 'no').padEnd(8),
        row.eventsPerSecond.toLocaleString('en-US').padStart(10),
        String(row.avgMatchesPerEvent).padStart(13),
        (anchor?.toLocaleString('en-US') ?? '-').padStart(11),
        anchor ? `${(row.eventsPerSecond / anchor).toFixed(2)}x`.padStart(6) : '',
      ].join('  '),
    );
  }
}
