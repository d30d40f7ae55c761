import { describe, expect, it } from 'vitest';
import { describeOutcome, probabilitiesOf, scoreNote, summarizePayload } from '../../cli/commands/trace';

const result = (fields: Record<string, string | null>) => ({
  detail_type: 'InferenceCompleted',
  tier: '2',
  task: 'sensor',
  label: 'anomaly',
  score: '0.91',
  payload: JSON.stringify({
    task: 'sensor',
    label: 'anomaly',
    probabilities: { normal: 0.09, anomaly: 0.91 },
  }),
  ...fields,
});

describe('trace shows the task, the label, its score and every label’s probability', () => {
  it('reads the probabilities from the result payload, in label order', () => {
    expect(probabilitiesOf(result({}).payload)).toEqual([
      ['normal', 0.09],
      ['anomaly', 0.91],
    ]);
    expect(scoreNote(result({}))).toBe(' (score 0.9100; normal 0.0900, anomaly 0.9100)');
    expect(describeOutcome([result({})], [])).toBe(
      'completed by tier 2 of task sensor: anomaly (score 0.9100; normal 0.0900, anomaly 0.9100)',
    );
  });

  it('shows what it has of a row without probabilities, or with a payload that is not JSON', () => {
    expect(scoreNote(result({ payload: '{"label":"ham"}' }))).toBe(' (score 0.9100)');
    expect(scoreNote(result({ payload: 'not json', score: null }))).toBe('');
    expect(probabilitiesOf('{"probabilities":{"a":"x","b":0.5}}')).toEqual([['b', 0.5]]);
  });

  it('summarizes a request by its input kind, never the input itself', () => {
    expect(summarizePayload(JSON.stringify({ features: [1.5, 2, 3] }))).toBe('features 3 numbers');
    expect(summarizePayload(JSON.stringify({ text: 'hello' }))).toBe('text 5 chars');
  });

  it('names the tier an escalation is waiting on', () => {
    const escalation = { detail_type: 'EscalationRequested', tier: '2' };
    expect(describeOutcome([{ detail_type: 'InferenceRequested' }, escalation], [])).toBe(
      'escalated by tier 2; no tier-3 result archived yet',
    );
  });
});
