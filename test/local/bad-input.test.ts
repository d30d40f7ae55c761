import { describe, expect, it } from 'vitest';
import { parseRecordBody } from '../../functions/core/records';
import { checkEntry, MAX_DETAIL_DEPTH } from '../../local/eventbridge/event';
import { matchesPattern } from '../../local/eventbridge/pattern';
import { nestingDepth } from '../../local/json-members';
import { requestEvent } from '../support/sqs-records';

const envelopeWith = (payload: string) =>
  `{"id":"a","tenant":"acme","stream":"s","seq":1,"hlc":"h","type":"t","payload":${payload},"metadata":{},"time":"2026-11-28T12:00:00Z"}`;

describe('bad input reaching the bus and the handlers', () => {
  it('refuses a Detail nested too deep to serialise, with a reason, instead of failing the whole request', () => {
    const deep = `${'{"n":'.repeat(MAX_DETAIL_DEPTH + 5)}1${'}'.repeat(MAX_DETAIL_DEPTH + 5)}`;
    const check = checkEntry({
      Source: 'inferbus.acme',
      DetailType: 'InferenceRequested',
      Detail: envelopeWith(deep),
    });
    expect(check).toEqual({
      ok: false,
      result: {
        ErrorCode: 'MalformedDetail',
        ErrorMessage: expect.stringContaining(`deeper than ${MAX_DETAIL_DEPTH}`),
      },
    });
    // Nesting that is deep but within the limit is accepted and can be matched and serialised.
    const fine = `${'{"n":'.repeat(200)}1${'}'.repeat(200)}`;
    const ok = checkEntry({
      Source: 'inferbus.acme',
      DetailType: 'InferenceRequested',
      Detail: envelopeWith(fine),
    });
    expect(ok.ok).toBe(true);
  });

  it('counts nesting outside strings only', () => {
    expect(nestingDepth('{"a":"{{{[[[","b":[{"c":"\\"}"}]}')).toBe(3);
  });

  it('does not let __proto__ or constructor keys reach an object prototype', () => {
    const payload = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"p2":1}},"text":"hi"}';
    const entry = checkEntry({
      Source: 'inferbus.acme',
      DetailType: 'InferenceRequested',
      Detail: envelopeWith(payload),
    });
    expect(entry.ok).toBe(true);
    if (!entry.ok) return;
    expect(matchesPattern({ detail: { payload: { polluted: [true] } } }, { detail: entry.detail })).toBe(
      false,
    );
    const parsed = parseRecordBody(
      JSON.stringify({
        id: 'e',
        'detail-type': 'InferenceRequested',
        source: 'inferbus.acme',
        detail: entry.detail,
      }),
    );
    expect(parsed).toMatchObject({ ok: true, request: { text: 'hi' } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).p2).toBeUndefined();
  });

  it('reports wrong types, a missing tenant and an unknown-shaped payload as poison naming the field', () => {
    const cases: [string, RegExp][] = [
      [requestEvent('r1', 'x').replace('"seq":1', '"seq":"one"'), /seq/],
      [requestEvent('r1', 'x').replace('"tenant":"acme",', ''), /tenant/],
      [requestEvent('r1', 'x').replace('"tenant":"acme"', '"tenant":"ACME!"'), /tenant/],
      [requestEvent('r1', 'x').replace('"payload":{"text":"x"}', '"payload":{"text":42}'), /text/],
    ];
    for (const [body, field] of cases) {
      const parsed = parseRecordBody(body);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.errorMessage).toMatch(field);
    }
  });

  it('treats a body that is not valid UTF-8 JSON as poison, not a crash', () => {
    const invalidUtf8 = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0xff, 0xfe, 0x7d]).toString('utf8');
    expect(parseRecordBody(invalidUtf8)).toMatchObject({ ok: false, errorCode: 'MalformedJson' });
  });
});
