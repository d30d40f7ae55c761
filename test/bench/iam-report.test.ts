import { describe, expect, it } from 'vitest';
import type { IamBenchResult } from '../../bench/iam';
import { renderBenchmarks } from '../../bench/report';
import { BENCHES, type BenchRun } from '../../bench/run';

const counts = [
  { principal: 'Tier1FunctionC1F2C957', service: 'dynamodb', allowed: 40, denied: 0 },
  { principal: 'Tier1FunctionC1F2C957', service: 'events', allowed: 12, denied: 1 },
  { principal: 'events.amazonaws.com', service: 'sqs', allowed: 30, denied: 0 },
];
const result: IamBenchResult = {
  name: 'iam',
  rows: [{ call: 'sqs:SendMessage (cached)', microsecondsPerCall: 0.4 }],
  demo: { events: 300, counts },
  pipeline: [
    { authorization: true, events: 1000, eventsPerSecond: 900, mainMsPerEvent: 0.2, counts },
    { authorization: false, events: 1000, eventsPerSecond: 950, mainMsPerEvent: 0.18, counts: [] },
  ],
};

describe('the local IAM measures in npm run bench', () => {
  it('run as a benchmark of their own', () => {
    expect(BENCHES.map((b) => b.name)).toContain('iam');
  });

  it('render counts per function (demo and pipeline) and the pipeline with authorization on and off', () => {
    const run: BenchRun = {
      date: '2026-12-07T00:00:00.000Z',
      quick: false,
      machine: { cores: 2, cpu: 'test', memoryGiB: 4, node: 'v20', platform: 'linux-x64' },
      results: { iam: result },
      errors: {},
      seconds: { iam: 60 },
      load: { iam: { start: 1, end: 1 } },
    };
    const text = renderBenchmarks(run, 'bench/results/x.json');
    expect(text).toContain('## Local IAM (authorization of every call)');
    expect(text).toContain('| Tier1Function | dynamodb, events | 52 | 1 |');
    expect(text).toContain('| events.amazonaws.com | sqs | 30 | 0 |');
    expect(text).toMatch(/\| on \| 900 \| 900 \| 0\.200 \|/);
    expect(text).toMatch(/\| off \| 950 \| 950 \| 0\.180 \|/);
    expect(text).toContain('| sqs:SendMessage (cached) | 0.4 |');
  });
});
