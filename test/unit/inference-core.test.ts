import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from '../../functions/core/backoff';
import { inferenceRequestSchema, parseResultEventId, resultEventId } from '../../functions/core/inference';
import { parseRecordBody } from '../../functions/core/records';
import { ResultCache } from '../../functions/core/result-cache';
import { decide, isValidThreshold, probabilitiesByLabel } from '../../functions/core/task/decide';
import { requestEvent } from '../support/sqs-records';

describe('cascade policy (functions/core/task/decide.ts)', () => {
  const binary = ['ham', 'spam'];
  const row = (...p: number[]) => Float32Array.from(p);

  it('answers when confident and escalates when not, for either label', () => {
    expect(decide(row(0.03, 0.97), 0, binary, 0.9, false)).toEqual({
      label: 'spam',
      labelIndex: 1,
      score: row(0.97)[0],
      escalate: false,
    });
    expect(decide(row(0.97, 0.03), 0, binary, 0.9, false)).toMatchObject({ label: 'ham', escalate: false });
    expect(decide(row(0.4, 0.6), 0, binary, 0.9, false)).toMatchObject({ label: 'spam', escalate: true });
    expect(decide(row(0.7, 0.3), 0, binary, 0.9, false)).toMatchObject({ label: 'ham', escalate: true });
  });

  it('never escalates from the last tier, and treats the threshold as inclusive', () => {
    expect(decide(row(0.49, 0.51), 0, binary, 0.99, true).escalate).toBe(false);
    expect(decide([0.1, 0.9], 0, binary, 0.9, false).escalate).toBe(false);
  });

  it('decides over K labels and reads the row asked for', () => {
    const labels = ['a', 'b', 'c'];
    const batch = [0.2, 0.3, 0.5, 0.1, 0.8, 0.1];
    expect(decide(batch, 1, labels, 0.6, false)).toMatchObject({ label: 'b', score: 0.8, escalate: false });
    expect(decide(batch, 0, labels, 0.6, false)).toMatchObject({ label: 'c', score: 0.5, escalate: true });
    expect(probabilitiesByLabel(batch, 1, labels)).toEqual({ a: 0.1, b: 0.8, c: 0.1 });
    expect(() => decide([Number.NaN, 1, 0], 0, labels, 0.6, false)).toThrow(/not a probability distribution/);
  });

  it('takes thresholds in [1/K, 1]', () => {
    expect(isValidThreshold(0.5, 2)).toBe(true);
    expect(isValidThreshold(0.4, 2)).toBe(false);
    expect(isValidThreshold(0.34, 3)).toBe(true);
    expect(isValidThreshold(1.01, 3)).toBe(false);
  });
});

describe('inference request payload', () => {
  it('needs exactly one of text, claim or features', () => {
    const claim = { bucket: 'abc', key: 'k' };
    expect(inferenceRequestSchema.safeParse({ text: 'hi' }).success).toBe(true);
    expect(inferenceRequestSchema.safeParse({ claim }).success).toBe(true);
    expect(inferenceRequestSchema.safeParse({ features: [1, 2.5, -3] }).success).toBe(true);
    for (const payload of [
      {},
      { text: 'a', claim },
      { text: 'a', features: [1] },
      { claim, features: [1] },
    ]) {
      const parsed = inferenceRequestSchema.safeParse(payload);
      expect(parsed.success, JSON.stringify(payload)).toBe(false);
      expect(parsed.error?.issues[0]?.message).toBe(
        'payload needs exactly one of "text", "claim" or "features"',
      );
    }
  });

  it('takes features as numbers only, and any expected label string (the handler checks it against the task)', () => {
    expect(inferenceRequestSchema.safeParse({ features: [1, '2'] }).success).toBe(false);
    expect(inferenceRequestSchema.safeParse({ features: [1], expectedLabel: 'anomaly' }).success).toBe(true);
    expect(inferenceRequestSchema.safeParse({ text: 'x', expectedLabel: '' }).success).toBe(false);
  });
});

describe('parseRecordBody', () => {
  it('accepts an EventBridge event carrying a valid envelope', () => {
    const parsed = parseRecordBody(requestEvent('r1', 'hello'));
    expect(parsed).toMatchObject({
      ok: true,
      envelope: { id: 'r1', tenant: 'acme' },
      request: { text: 'hello' },
    });
  });

  it.each([
    ['not json', '{', 'MalformedJson', /not JSON/],
    ['not an event', '{"a":1}', 'InvalidEvent', /detail-type/],
    ['bad envelope', requestEvent('r1', 'x').replace('"seq":1', '"seq":-1'), 'InvalidEnvelope', /seq/],
    [
      'bad payload',
      requestEvent('r1', 'x').replace('"payload":{"text":"x"}', '"payload":{}'),
      'InvalidPayload',
      /text.*claim.*features/,
    ],
  ])('reports %s as poison with a reason naming the field', (_, body, code, reason) => {
    const parsed = parseRecordBody(body);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.errorCode).toBe(code);
    expect(parsed.errorMessage).toMatch(reason);
  });

  it('keeps the tenant and id of a bad envelope so the failure can be attributed', () => {
    const parsed = parseRecordBody(requestEvent('r9', 'x').replace('"seq":9', '"seq":"nine"'));
    expect(parsed).toMatchObject({ ok: false, tenant: 'acme', envelopeId: 'r9' });
  });

  it('returns the validated envelope of an InvalidPayload record, and none for a bad envelope', () => {
    const badPayload = parseRecordBody(requestEvent('r3', 'x').replace('"text":"x"', '"text":42'));
    expect(badPayload).toMatchObject({
      ok: false,
      errorCode: 'InvalidPayload',
      envelope: { id: 'r3', tenant: 'acme', stream: 'inbox', seq: 3, metadata: {} },
    });
    const badEnvelope = parseRecordBody(requestEvent('r4', 'x').replace('"seq":4', '"seq":-4'));
    expect(badEnvelope).toMatchObject({ ok: false, errorCode: 'InvalidEnvelope' });
    expect(badEnvelope).not.toHaveProperty('envelope');
  });
});

describe('ResultCache', () => {
  const row = (p: number) => Float32Array.from([1 - p, p]);

  it('evicts the least recently used entry beyond capacity', () => {
    const cache = new ResultCache(2);
    cache.set('a', row(0.1));
    cache.set('b', row(0.2));
    cache.get('a');
    cache.set('c', row(0.3));
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([row(0.1), undefined, row(0.3)]);
  });

  it("keeps a copy of the row, not a view that pins the batch's output", () => {
    const cache = new ResultCache();
    const batch = Float32Array.from([0.9, 0.1, 0.2, 0.8]);
    cache.set('k', batch.subarray(2, 4));
    batch.fill(0);
    expect(cache.get('k')).toEqual(Float32Array.from([0.2, 0.8]));
    expect(cache.get('k')?.buffer.byteLength).toBe(8);
  });

  it('keys by model, tenant, event id and input: only a redelivery of the same event hits', () => {
    const event = { tenant: 'acme', id: 'e-1' };
    const text = { text: 'text' };
    const key = ResultCache.key('m1', event, text);
    expect(ResultCache.key('m1', { ...event }, { text: 'text' })).toBe(key);
    expect(ResultCache.key('m2', event, text)).not.toBe(key);
    expect(ResultCache.key('m1', { tenant: 'globex', id: 'e-1' }, text)).not.toBe(key);
    expect(ResultCache.key('m1', { tenant: 'acme', id: 'e-2' }, text)).not.toBe(key);
    expect(ResultCache.key('m1', event, { text: 'text ' })).not.toBe(key);
    // No separator games: the parts cannot run into each other.
    expect(ResultCache.key('m1', { tenant: 'a:b', id: 'c' }, { text: 'x' })).not.toBe(
      ResultCache.key('m1', { tenant: 'a', id: 'b:c' }, { text: 'x' }),
    );
  });

  it('tells features from text and one vector from another', () => {
    const event = { tenant: 'acme', id: 'e-1' };
    const key = ResultCache.key('m1', event, { features: [1, 2] });
    expect(ResultCache.key('m1', event, { features: [1, 2] })).toBe(key);
    expect(ResultCache.key('m1', event, { features: [1, 2.5] })).not.toBe(key);
    expect(ResultCache.key('m1', event, { features: [12] })).not.toBe(key);
    expect(ResultCache.key('m1', event, { text: '1,2' })).not.toBe(key);
  });

  it('hashes the UTF-8 input key with sha256', () => {
    for (const text of ['text', 'café ☕ 日本語', '\ud83d\udce7 mail', '']) {
      const digest = createHash('sha256')
        .update(Buffer.from(`t:${text}`, 'utf8'))
        .digest('base64url');
      expect(ResultCache.key('m1', { tenant: 't', id: 'i' }, { text })).toBe(
        JSON.stringify(['m1', 't', 'i', digest]),
      );
    }
  });
});

describe('backoff', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    const max = (retry: number) => backoffDelayMs(retry, { baseMs: 50, capMs: 1000 }, () => 0.999999);
    expect([0, 1, 2, 3, 10].map(max)).toEqual([49, 99, 199, 399, 999]);
    expect(backoffDelayMs(5, { baseMs: 50, capMs: 1000 }, () => 0)).toBe(0);
  });
});

describe('tenant-scoped result ids', () => {
  it('puts the tenant first, so two tenants sharing an envelope id never share a result id', () => {
    expect(resultEventId('acme', 'coll-1', 1, 'completed')).toBe('acme:coll-1:t1:completed');
    expect(resultEventId('globex', 'coll-1', 1, 'completed')).not.toBe(
      resultEventId('acme', 'coll-1', 1, 'completed'),
    );
    expect(parseResultEventId('acme:a:b:t2:escalated')).toEqual({
      tenant: 'acme',
      sourceId: 'a:b',
      tier: 2,
      kind: 'escalated',
    });
    expect(parseResultEventId('coll-1:t1:completed')).toBeUndefined();
    expect(parseResultEventId('coll-1')).toBeUndefined();
  });
});
