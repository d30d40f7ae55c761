import { describe, expect, it } from 'vitest';
import { reconcile, requestKey } from './reconcile';

/** The reconciliation counts (tenant, id) pairs: envelope ids are unique only per tenant. */
describe('reconcile', () => {
  it('counts an outcome for an id its tenant never sent as invented for that tenant, though another tenant sent the id', () => {
    const r = reconcile('ids', [requestKey('acme', 'r-1'), requestKey('globex', 'r-2')], {
      completedRows: [requestKey('acme', 'r-1'), requestKey('globex', 'r-1'), requestKey('globex', 'r-2')],
      deadLetters: [{ id: requestKey('initech', 'r-2'), queue: 'dlq', reason: 'x', errorCode: 'E' }],
    });
    expect(r.missing).toEqual([]);
    expect(r.invented).toEqual(['globex/r-1', 'initech/r-2']);
    expect([...r.inventedByTenant]).toEqual([
      ['acme', 0],
      ['globex', 1],
      ['initech', 1],
    ]);
    expect(r.ok).toBe(false);
  });

  it('misses a request whose only outcome went to another tenant', () => {
    const r = reconcile('ids', [requestKey('acme', 'r-1')], {
      completedRows: [requestKey('globex', 'r-1')],
      deadLetters: [],
    });
    expect(r.missing).toEqual(['acme/r-1']);
    expect(r.invented).toEqual(['globex/r-1']);
  });

  it('tells two outcomes for one request (a conflict) from the same dead letter stored twice', () => {
    const letter = (id: string) => ({
      id: requestKey('acme', id),
      queue: 'dlq',
      reason: 'x',
      errorCode: 'E',
    });
    const r = reconcile(
      'ids',
      ['r-1', 'r-2', 'r-3'].map((id) => requestKey('acme', id)),
      {
        completedRows: [requestKey('acme', 'r-1'), requestKey('acme', 'r-2')],
        deadLetters: [letter('r-2'), letter('r-3'), letter('r-3')],
      },
    );
    expect(r.conflicts).toEqual(['acme/r-2']);
    expect(r.duplicateLetters).toBe(1);
    expect(r.deadLettered).toBe(2);
    expect(r.missing).toEqual([]);
  });
});
