import { describe, expect, it } from 'vitest';
import { servedTasks } from '../../local/demo/sample-events';
import { formatTaskFigures, taskFigures } from '../../local/demo/task-summary';

describe('the demo summary per task', () => {
  const sent = [
    { id: 'a1', task: 'spam', expectedLabel: 'spam' },
    { id: 'a2', task: 'spam', expectedLabel: 'ham' },
    { id: 'a3', task: 'spam', expectedLabel: 'ham' },
    { id: 'b1', task: 'sensor', expectedLabel: 'anomaly' },
    { id: 'b2', task: 'sensor' },
  ];
  const results = [
    { sourceEventId: 'a1', tier: 1, label: 'spam' },
    // a2 escalated: tier 1 has no result, tier 2 answers (twice: a redelivery).
    { sourceEventId: 'a2', tier: 2, label: 'spam' },
    { sourceEventId: 'a2', tier: 2, label: 'spam' },
    { sourceEventId: 'b1', tier: 1, label: 'normal' },
    { sourceEventId: 'b1', tier: 2, label: 'anomaly' },
    { sourceEventId: 'b2', tier: 1, label: 'normal' },
    { sourceEventId: 'elsewhere', tier: 1, label: 'ham' },
  ];

  it('counts requests, final labels, escalations and accuracy against expected labels for every task', () => {
    const figures = taskFigures(sent, results, new Set(['a2', 'b1']));
    expect(figures).toEqual([
      {
        task: 'spam',
        requests: 3,
        answered: 2,
        labels: [{ label: 'spam', count: 2 }],
        escalated: 1,
        byTier: [
          { tier: 1, count: 1 },
          { tier: 2, count: 1 },
        ],
        labelled: 2,
        correct: 1,
      },
      {
        task: 'sensor',
        requests: 2,
        answered: 2,
        labels: [
          { label: 'anomaly', count: 1 },
          { label: 'normal', count: 1 },
        ],
        escalated: 1,
        byTier: [
          { tier: 1, count: 1 },
          { tier: 2, count: 1 },
        ],
        labelled: 1,
        correct: 1,
      },
    ]);
    const lines = formatTaskFigures(figures);
    expect(lines[0]).toMatch(/^task\s+requests\s+answered\s+escalated\s+accuracy/);
    expect(lines[1]).toContain('50.00% (1/2)');
    expect(lines[1]).toContain('spam 2');
    expect(lines[2]).toContain('anomaly 1, normal 1');
  });

  it('reads the served tasks from the entry tier of a template, and refuses a template with none', () => {
    const fn = (environment: Record<string, string>) => ({ environment });
    expect(
      servedTasks([
        fn({ INFERBUS_TASK: 'spam', INFERBUS_TIER: '1' }),
        fn({ INFERBUS_TASK: 'spam', INFERBUS_TIER: '2' }),
        fn({ INFERBUS_TASK: 'sensor', INFERBUS_TIER: '1' }),
        fn({}),
      ]),
    ).toEqual(['spam', 'sensor']);
    expect(() => servedTasks([fn({ INFERBUS_TIER: '1' })])).toThrow(
      /no function of the template serves a task/,
    );
  });
});
