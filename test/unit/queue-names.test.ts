import { describe, expect, it } from 'vitest';
import {
  deadLetterQueueName,
  MAX_QUEUE_NAME_CHARS,
  parseWorkQueueName,
  workQueueName,
} from '../../functions/core/queue-names';

describe('work queue names', () => {
  it('name the stage, task, tier and tenant', () => {
    expect(workQueueName('dev', 'spam', 1, 'acme')).toBe('inferbus-dev-spam-t1-acme');
    expect(deadLetterQueueName(workQueueName('dev', 'sensor', 3, 'acme-eu'))).toBe(
      'inferbus-dev-sensor-t3-acme-eu-dlq',
    );
  });

  it("fit SQS's 80 characters with the longest stage, task and tenant ids, DLQ suffix included", () => {
    const name = deadLetterQueueName(workQueueName('s'.repeat(16), 't'.repeat(12), 9, `a${'-'.repeat(31)}`));
    expect(name.length).toBeLessThanOrEqual(MAX_QUEUE_NAME_CHARS);
    expect(() => workQueueName('s'.repeat(20), 't'.repeat(12), 9, 'a'.repeat(32))).toThrow(
      /over SQS's 80-character limit; shorten the stage, task or tenant id/,
    );
  });

  it('parse back into task, tier, tenant and whether it is the DLQ', () => {
    expect(parseWorkQueueName('inferbus-my-dev-spam-t2-acme-corp-dlq', 'my-dev')).toEqual({
      task: 'spam',
      tier: 2,
      tenant: 'acme-corp',
      deadLetter: true,
    });
    expect(parseWorkQueueName('inferbus-dev-sensor-t1-t2-x', 'inferbus-dev')).toEqual({
      task: 'sensor',
      tier: 1,
      tenant: 't2-x',
      deadLetter: false,
    });
    expect(parseWorkQueueName('spam-t1-acme')).toMatchObject({ task: 'spam', tier: 1, tenant: 'acme' });
  });

  it('reject what is not a work queue of the stage', () => {
    expect(parseWorkQueueName('inferbus-dev-UnroutedRequestsQueueEBD7441D', 'dev')).toBeUndefined();
    expect(parseWorkQueueName('inferbus-prod-spam-t1-acme', 'dev')).toBeUndefined();
    // The old naming, before tasks.
    expect(parseWorkQueueName('inferbus-dev-tier1-acme', 'dev')).toBeUndefined();
  });
});
