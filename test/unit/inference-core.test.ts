import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from '../../functions/core/backoff';
import {
  decide,
  inferenceRequestSchema,
  parseResultEventId,
  resultEventId,
} from '../../functions/core/inference';
import { parseRecordBody } from '../../functions/core/records';
import { ResultCache } from '../../functions/core/result-cache';
import { requestEvent } from '../support/sqs-records';

describe('cascade policy', () => {
  it('answers when confident and escalates when not, on either side of 0.5', () => {
    expect(decide(0.97, 0.9, false)).toEqual({ label: 'spam', confidence: 0.97, escalate: false });
    expect(decide(0.03, 0.9, false)).toMatchObject({ label: 'ham', escalate: false });
    expect(decide(0.6, 0.9, false)).toMatchObject({ label: 'spam', escalate: true });
    expect(decide(0.3, 0.9, false)).toMatchObject({ label: 'ham', escalate: true });
  });

  it('never escalates from the last tier', () => {
    expect(decide(0.51, 0.99, true).escalate).toBe(false);
  });

  it('treats the threshold as inclusive', () => {
    expect(decide(0.9, 0.9, false).escalate).toBe(false);
  });
});

describe('inference request payload', () => {
  it('needs exactly one of text or claim', () => {
    expect(inferenceRequestSchema.safeParse({ text: 'hi' }).success).toBe(true);
    expect(inferenceRequestSchema.safeParse({}).success).toBe(false);
    expect(inferenceRequestSchema.safeParse({ text: 'a', claim: { bucket: 'abc', key: 'k' } }).success).toBe(
      false,
    );
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
      /text.*claim/,
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
  it('evicts the least recently used entry beyond capacity', () => {
    const cache = new ResultCache(2);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.get('a');
    cache.set('c', 3);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([1, undefined, 3]);
  });

  it('keys by model, tenant, event id and text: only a redelivery of the same event hits', () => {
    const event = { tenant: 'acme', id: 'e-1' };
    const key = ResultCache.key('m1', event, 'text');
    expect(ResultCache.key('m1', { ...event }, 'text')).toBe(key);
    expect(ResultCache.key('m2', event, 'text')).not.toBe(key);
    expect(ResultCache.key('m1', { tenant: 'globex', id: 'e-1' }, 'text')).not.toBe(key);
    expect(ResultCache.key('m1', { tenant: 'acme', id: 'e-2' }, 'text')).not.toBe(key);
    expect(ResultCache.key('m1', event, 'text ')).not.toBe(key);
    // No separator games: the parts cannot run into each other.
    expect(ResultCache.key('m1', { tenant: 'a:b', id: 'c' }, 'x')).not.toBe(
      ResultCache.key('m1', { tenant: 'a', id: 'b:c' }, 'x'),
    );
  });

  it('hashes the UTF-8 text with sha256', () => {
    for (const text of ['text', 'café ☕ 日本語', '\ud83d\udce7 mail', '']) {
      const digest = createHash('sha256').update(Buffer.from(text, 'utf8')).digest('base64url');
      expect(ResultCache.key('m1', { tenant: 't', id: 'i' }, text)).toBe(
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
