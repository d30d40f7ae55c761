import { describe, expect, it } from 'vitest';
import { ConfigurationError, readHandlerEnv } from '../../functions/shared/env';

describe('handler environment', () => {
  it('reads and defaults the variables the CDK app sets', () => {
    const env = readHandlerEnv({
      EVENT_BUS_NAME: 'bus',
      INFERBUS_TIER: '1',
      DLQ_URLS: '{"arn:q":"https://q"}',
    });
    expect(env).toMatchObject({
      MODELS_DIR: '/opt/models',
      CASCADE_THRESHOLD: 'manifest',
      MAX_RECEIVE_COUNT: 3,
    });
    expect(env.DLQ_URLS).toEqual({ 'arn:q': 'https://q' });
  });

  it('names a missing variable and a malformed one', () => {
    expect(() => readHandlerEnv({ INFERBUS_TIER: '1' })).toThrow(ConfigurationError);
    expect(() => readHandlerEnv({ INFERBUS_TIER: '1' })).toThrow(/EVENT_BUS_NAME is not set/);
    expect(() => readHandlerEnv({ EVENT_BUS_NAME: 'b', INFERBUS_TIER: '1', DLQ_URLS: '[1' })).toThrow(
      /DLQ_URLS="\[1": must be a JSON object of strings/,
    );
    expect(() =>
      readHandlerEnv({ EVENT_BUS_NAME: 'b', INFERBUS_TIER: '1', CASCADE_THRESHOLD: '0.2' }),
    ).toThrow(/CASCADE_THRESHOLD/);
  });
});
