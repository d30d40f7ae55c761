import { mulberry32 } from '../core/prng';
import type { PutEventsEntry } from '../core/put-events';
import type { EventPublisher, PublishOutcome } from './publisher';

/**
 * Fault injection for the fault suite (`npm run faults`), configured by the `INFERBUS_FAULTS`
 * environment variable (JSON) and read once at module load. Unset (the default, and always in a
 * deployment) every hook is a no-op: one property read per call, nothing wrapped.
 *
 *   INFERBUS_FAULTS='{"handlerErrorRate":0.2,"publishFailureRate":0.3,"initFailure":true}'
 *   INFERBUS_FAULTS='{"handlerTimeoutRate":0.2}'
 */
export interface FaultConfig {
  /** Probability that a batch throws before processing (a handler exception). */
  readonly handlerErrorRate?: number;
  /** Share of PutEvents entries reported as failed (a PutEvents partial failure). */
  readonly publishFailureRate?: number;
  /** The tier's model load fails at init: every invocation errors. */
  readonly initFailure?: boolean;
  /** Probability that a batch hangs past the function timeout (a handler timeout). */
  readonly handlerTimeoutRate?: number;
  /** Seeds the draws (each process starts the same sequence), so a run's faults reproduce. @default unseeded */
  readonly seed?: number;
}

export const FAULTS_ENV = 'INFERBUS_FAULTS';

const RATE_KEYS = ['handlerErrorRate', 'publishFailureRate', 'handlerTimeoutRate'] as const;
const KNOWN_KEYS = new Set<string>([...RATE_KEYS, 'initFailure', 'seed']);

/** Parses the value of INFERBUS_FAULTS; undefined or empty means no faults. Throws a clear error otherwise. */
export function parseFaults(raw: string | undefined): FaultConfig | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new Error(`${FAULTS_ENV} is not valid JSON (${(error as Error).message}): ${raw.slice(0, 200)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(
      `${FAULTS_ENV} must be a JSON object, e.g. {"handlerErrorRate":0.2}; got ${raw.slice(0, 200)}`,
    );
  }
  const config = value as Record<string, unknown>;
  for (const key of Object.keys(config)) {
    if (!KNOWN_KEYS.has(key)) {
      throw new Error(`${FAULTS_ENV} has an unknown key "${key}"; known: ${[...KNOWN_KEYS].join(', ')}`);
    }
  }
  for (const key of RATE_KEYS) {
    const rate = config[key];
    if (rate !== undefined && (typeof rate !== 'number' || !(rate >= 0 && rate <= 1))) {
      throw new Error(`${FAULTS_ENV}.${key} must be a number from 0 to 1; got ${JSON.stringify(rate)}`);
    }
  }
  if (config.initFailure !== undefined && typeof config.initFailure !== 'boolean') {
    throw new Error(
      `${FAULTS_ENV}.initFailure must be true or false; got ${JSON.stringify(config.initFailure)}`,
    );
  }
  if (config.seed !== undefined && !Number.isInteger(config.seed)) {
    throw new Error(`${FAULTS_ENV}.seed must be an integer; got ${JSON.stringify(config.seed)}`);
  }
  return config as FaultConfig;
}

/** The faults of this process, read once at module load; undefined when INFERBUS_FAULTS is unset. */
export const faults: FaultConfig | undefined = parseFaults(process.env[FAULTS_ENV]);

/** The draws behind every rate of this process: seeded when `seed` is set. */
const faultRandom: () => number = faults?.seed === undefined ? Math.random : mulberry32(faults.seed);

export class InjectedFault extends Error {
  override readonly name = 'InjectedFault';
}

/** Throws at init when `initFailure` is set. */
export function injectInitFailure(config: FaultConfig | undefined = faults): void {
  if (config?.initFailure)
    throw new InjectedFault(`injected model load failure at init (${FAULTS_ENV}.initFailure)`);
}

/** Throws with probability `handlerErrorRate` (call at the start of a batch). */
export function injectHandlerError(config: FaultConfig | undefined = faults, random = faultRandom): void {
  const rate = config?.handlerErrorRate;
  if (rate && random() < rate) {
    throw new InjectedFault(`injected handler error (${FAULTS_ENV}.handlerErrorRate=${rate})`);
  }
}

/**
 * With probability `handlerTimeoutRate`, waits until `remainingMs` has run out and one second more,
 * as a batch stuck on a slow dependency does (call at the start of a batch). Otherwise returns at once.
 */
export async function injectHandlerTimeout(
  remainingMs: number,
  config: FaultConfig | undefined = faults,
  random = faultRandom,
): Promise<void> {
  const rate = config?.handlerTimeoutRate;
  if (rate && random() < rate) await new Promise((resolve) => setTimeout(resolve, remainingMs + 1000));
}

/**
 * The publisher as is without `publishFailureRate`; with it, a share of entries is not sent and
 * comes back failed, as PutEvents reports a partial failure (ErrorCode InternalFailure).
 */
export function withPublishFaults(
  publisher: EventPublisher,
  config: FaultConfig | undefined = faults,
  random = faultRandom,
): EventPublisher {
  const rate = config?.publishFailureRate;
  if (!rate) return publisher;
  return {
    async publish(entries: readonly PutEventsEntry[]): Promise<PublishOutcome> {
      const sent: number[] = [];
      const failed = new Map<number, string>();
      entries.forEach((_, index) => {
        if (random() < rate)
          failed.set(index, `InternalFailure: injected (${FAULTS_ENV}.publishFailureRate=${rate})`);
        else sent.push(index);
      });
      const outcome = await publisher.publish(sent.map((i) => entries[i] as PutEventsEntry));
      for (const [position, error] of outcome.failed) failed.set(sent[position] as number, error);
      const eventIds = new Map<number, string>();
      for (const [position, id] of outcome.eventIds ?? []) eventIds.set(sent[position] as number, id);
      return { failed, eventIds };
    },
  };
}
