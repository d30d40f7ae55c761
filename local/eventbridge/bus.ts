import type {
  BusModel,
  FirehoseSink,
  QueueService,
  RuleModel,
  SqsMessageAttribute,
  TargetModel,
  TemplateModel,
} from '../model.js';
import { isStorageUnavailable } from '../storage-health.js';
import {
  checkEntry,
  EventBridgeApiError,
  type EventBridgeEvent,
  eventJsonOf,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
  toEvent,
  validateRequest,
} from './event.js';
import { matchesPattern, RuleIndex, validatePattern } from './pattern.js';
import { applyInputPath, applyInputTransformer } from './transform.js';

/** EventBridge's retry policy defaults (user guide, "Event retry policy and using dead-letter queues"). */
export const DEFAULT_MAX_RETRY_ATTEMPTS = 185;
export const DEFAULT_MAX_EVENT_AGE_SECONDS = 86_400;
/** Local backoff: exponential from 100 ms, full jitter, capped so a local outage is retried promptly. */
export const BASE_BACKOFF_MS = 100;
export const MAX_BACKOFF_MS = 30_000;

export interface PutEventsResult {
  readonly FailedEntryCount: number;
  readonly Entries: PutEventsResultEntry[];
}

export interface BusMetrics {
  readonly eventsAccepted: number;
  readonly entriesFailed: number;
  readonly matchedByRule: Readonly<Record<string, number>>;
  readonly deliveriesOk: number;
  /** Failed delivery attempts (each retry counts). */
  readonly deliveriesFailed: number;
  readonly deadLettered: number;
  /** Events given up with no DLQ, or whose DLQ send failed too. */
  readonly dropped: number;
  readonly inFlight: number;
}

export interface LocalEventBusOptions {
  readonly model: Pick<TemplateModel, 'buses' | 'rules' | 'account' | 'region'>;
  readonly queues: QueueService;
  readonly firehose: FirehoseSink;
  readonly log?: (line: string) => void;
  readonly now?: () => Date;
  /** Waits between retries; tests inject one that returns at once. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Delay before retry `n` (1-based). */
  readonly backoff?: (retry: number) => number;
  /**
   * Authorizes one delivery as AWS does (the queue policy for EventBridge's service principal, the
   * target role for Firehose): a denial message refuses it, which fails as NO_PERMISSIONS (no
   * retries: to the target's DLQ at once), or drops the event when it is the DLQ that refuses.
   */
  /** Told the size of each entry accepted (the usage meter bills EventBridge per 64 KB of entry). */
  readonly onEntryAccepted?: (entry: PutEventsRequestEntry) => void;
  readonly authorizeDelivery?: (delivery: {
    readonly rule: RuleModel;
    readonly target: TargetModel;
    readonly to: 'target' | 'dead-letter';
  }) => string | undefined;
}

/** Why a delivery attempt failed, in the ERROR_CODE vocabulary of EventBridge target DLQs. */
interface DeliveryFailure {
  readonly code: string;
  readonly message: string;
  /** Missing resources are not retried: AWS sends those events to the DLQ at once. */
  readonly retryable: boolean;
}

function classify(error: unknown): DeliveryFailure {
  const e = error as { name?: string; code?: string; message?: string };
  const tag = `${e?.code ?? ''} ${e?.name ?? ''}`;
  const message = e?.message ?? String(error);
  if (e?.code === 'NO_PERMISSIONS') return { code: 'NO_PERMISSIONS', message, retryable: false };
  if (/NonExistentQueue|QueueDoesNotExist|ResourceNotFound|NotFound|UnknownQueue/i.test(tag)) {
    return { code: 'NO_RESOURCE', message, retryable: false };
  }
  if (/Throttl/i.test(tag)) return { code: 'THROTTLING', message, retryable: true };
  return { code: 'SDK_CLIENT_ERROR', message, retryable: true };
}

/** A bus's name from its name or ARN; none means the default bus. */
function busNameOf(nameOrArn: string | undefined): string {
  return nameOrArn ? (/:event-bus\/(.+)$/.exec(nameOrArn)?.[1] ?? nameOrArn) : 'default';
}

function serviceOf(arn: string): string {
  return arn.split(':')[2] ?? '';
}

/** The DLQ error message of a target input that cannot be built. */
function invalidInput(error: unknown): DeliveryFailure {
  return { code: 'INVALID_PARAMETER', message: (error as Error).message, retryable: false };
}

/**
 * How a target's first delivery attempt ended. A failed one is held: the caller resumes it (the
 * target's retry policy, then its DLQ, go on in the background) or abandons it (the entry failed).
 */
type FirstAttempt =
  | { readonly delivered: true }
  | {
      readonly delivered: false;
      /** The runtime could not write it down (a full disk): not an AWS failure mode. */
      readonly storage: boolean;
      readonly error: unknown;
      readonly resume: () => void;
      readonly abandon: () => void;
    };

const DELIVERED: FirstAttempt = { delivered: true };

function defaultBackoff(retry: number): number {
  return Math.random() * Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (retry - 1));
}

/** An accepted event with the texts its targets are built from, made once for all of them. */
interface AcceptedEvent {
  readonly event: EventBridgeEvent;
  readonly eventJson: string;
  /** The Detail text as sent, when it is minified JSON (see `checkEntry`). */
  readonly detailJson: string | undefined;
  /** Where the object and array members of `detailJson` lie (see `checkEntry`). */
  readonly detailMembers: readonly number[] | undefined;
  readonly ingestion: Date;
}

interface BusState {
  readonly model: BusModel;
  readonly index: RuleIndex;
  readonly rules: Map<string, RuleModel>;
}

/**
 * The local EventBridge bus: PutEvents, rule matching through one RuleIndex per bus, target input
 * (Input, InputPath, InputTransformer), delivery to SQS and Firehose with the target's retry
 * policy, then its dead-letter queue. PutEvents returns once events are accepted; delivery runs in
 * the background and {@link drain} waits for it.
 */
export class LocalEventBus {
  private readonly buses = new Map<string, BusState>();
  /** Deliveries started and not yet done (retries and dead-lettering included). */
  private inFlight = 0;
  private drainers: (() => void)[] = [];
  /** Target ARN → its service (`sqs`, `firehose`, ...). */
  private readonly services = new Map<string, string>();
  private readonly sleepers = new Set<() => void>();
  private closed = false;
  private readonly log: (line: string) => void;
  private readonly now: () => Date;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly backoff: (retry: number) => number;
  private readonly counters = {
    eventsAccepted: 0,
    entriesFailed: 0,
    deliveriesOk: 0,
    deliveriesFailed: 0,
    deadLettered: 0,
    dropped: 0,
  };
  private readonly matched = new Map<string, number>();

  constructor(private readonly options: LocalEventBusOptions) {
    this.log = options.log ?? (() => {});
    this.now = options.now ?? (() => new Date());
    this.sleep = options.sleep ?? ((ms) => this.interruptibleSleep(ms));
    this.backoff = options.backoff ?? defaultBackoff;
    const { account, region } = options.model;
    const all: BusModel[] = [
      { logicalId: 'default', name: 'default', arn: `arn:aws:events:${region}:${account}:event-bus/default` },
      ...options.model.buses.filter((b) => b.name !== 'default'),
    ];
    for (const bus of all) this.buses.set(bus.name, { model: bus, index: new RuleIndex(), rules: new Map() });
    for (const rule of options.model.rules) {
      const bus = this.buses.get(rule.eventBusName);
      if (!bus)
        throw new Error(
          `Rule ${rule.name} is on event bus ${rule.eventBusName}, which the template does not define.`,
        );
      bus.rules.set(rule.name, rule);
      if (rule.enabled) bus.index.add(rule.name, rule.eventPattern);
      for (const target of rule.targets) {
        if (!['sqs', 'firehose'].includes(serviceOf(target.arn))) {
          this.log(
            `rule ${rule.name}: target ${target.id} (${target.arn}) is not SQS or Firehose; its events go to its DLQ.`,
          );
        }
      }
    }
  }

  listBuses(): BusModel[] {
    return [...this.buses.values()].map((b) => b.model);
  }

  describeBus(nameOrArn: string | undefined): BusModel {
    return this.bus(nameOrArn).model;
  }

  listRules(busName: string | undefined, namePrefix?: string): RuleModel[] {
    return [...this.bus(busName).rules.values()].filter((r) => !namePrefix || r.name.startsWith(namePrefix));
  }

  /** Whether `event` matches `pattern`; throws InvalidEventPatternError for a pattern AWS refuses. */
  testEventPattern(pattern: unknown, event: unknown): boolean {
    validatePattern(pattern);
    return matchesPattern(pattern, event);
  }

  /** Accepts entries like PutEvents; deliveries continue after it returns. */
  putEvents(busName: string | undefined, entries: readonly PutEventsRequestEntry[]): PutEventsResult {
    const { result, attempts } = this.accept(busName, entries);
    for (const entryAttempts of attempts.values()) {
      for (const attempt of entryAttempts) void attempt.then(resumeIfHeld);
    }
    this.reportAccepted(entries, result);
    return result;
  }

  /**
   * PutEvents as the endpoint answers it: only once every matched target's first delivery attempt
   * has settled (an SQS target's message is in the durable log, or its retry is scheduled), so an
   * acknowledged event survives the runtime being killed right after the answer. An entry that no
   * target could store because the runtime's own writes fail (a full disk), and that none has
   * stored, fails with InternalFailure, as AWS answers an internal failure, and is not delivered
   * later: nothing of it is applied, so a retry by the producer does not duplicate it.
   */
  async putEventsDurably(
    busName: string | undefined,
    entries: readonly PutEventsRequestEntry[],
  ): Promise<PutEventsResult> {
    const { result, attempts } = this.accept(busName, entries);
    let failed = result.FailedEntryCount;
    await Promise.all(
      [...attempts].map(async ([index, entryAttempts]) => {
        const settled = await Promise.all(entryAttempts);
        const unstored = settled.find((a) => !a.delivered && a.storage);
        if (unstored === undefined || settled.some((a) => a.delivered)) {
          for (const attempt of settled) resumeIfHeld(attempt);
          return;
        }
        for (const attempt of settled) if (!attempt.delivered) attempt.abandon();
        failed++;
        this.counters.eventsAccepted--;
        this.counters.entriesFailed++;
        result.Entries[index] = {
          ErrorCode: 'InternalFailure',
          ErrorMessage: `The local runtime could not store the event: ${(unstored as { error: Error }).error.message}`,
        };
      }),
    );
    const final = { FailedEntryCount: failed, Entries: result.Entries };
    this.reportAccepted(entries, final);
    return final;
  }

  private reportAccepted(entries: readonly PutEventsRequestEntry[], result: PutEventsResult): void {
    const report = this.options.onEntryAccepted;
    if (!report) return;
    result.Entries.forEach((outcome, index) => {
      const entry = entries[index];
      if (outcome.EventId !== undefined && entry) report(entry);
    });
  }

  /** Accepts the entries; the first delivery attempts of each accepted entry, by entry index. */
  private accept(
    busName: string | undefined,
    entries: readonly PutEventsRequestEntry[],
  ): { result: PutEventsResult; attempts: Map<number, Promise<FirstAttempt>[]> } {
    const attempts = new Map<number, Promise<FirstAttempt>[]>();
    if (this.closed) {
      throw new EventBridgeApiError(
        'ServiceUnavailable',
        'The local event bus is closed: the runtime is stopping. Retry once it has restarted.',
        503,
      );
    }
    validateRequest(entries);
    const results: PutEventsResultEntry[] = [];
    let failed = 0;
    entries.forEach((entry, index) => {
      const check = checkEntry(entry);
      if (!check.ok) {
        failed++;
        results.push(check.result);
        return;
      }
      const bus = this.findBus(entry.EventBusName ?? busName);
      if (!bus) {
        // AWS accepts an entry for a bus that does not exist and drops it (aws/aws-cli#9186);
        // locally only that entry fails, loudly, and the others are delivered.
        failed++;
        results.push({
          ErrorCode: 'ResourceNotFoundException',
          ErrorMessage: `Event bus ${busNameOf(entry.EventBusName ?? busName)} does not exist.`,
        });
        return;
      }
      const ingestion = this.now();
      const event = toEvent(entry, check.detail, {
        account: this.options.model.account,
        region: this.options.model.region,
        now: ingestion,
      });
      this.counters.eventsAccepted++;
      results.push({ EventId: event.id });
      const accepted: AcceptedEvent = {
        event,
        eventJson: eventJsonOf(event, check.detailJson),
        detailJson: check.detailJson,
        detailMembers: check.detailMembers,
        ingestion,
      };
      attempts.set(index, this.route(bus, accepted));
    });
    this.counters.entriesFailed += failed;
    return { result: { FailedEntryCount: failed, Entries: results }, attempts };
  }

  metrics(): BusMetrics {
    return {
      ...this.counters,
      matchedByRule: Object.fromEntries(this.matched),
      inFlight: this.inFlight,
    };
  }

  /**
   * Resolves when no delivery is in flight (including retries scheduled meanwhile): every accepted
   * event is at each target or, after the target's retry policy, in its DLQ. The runtime's stop
   * waits for this before it closes Firehose and the queues, so no delivery of an accepted event is
   * cut off by the stop itself.
   */
  async drain(): Promise<void> {
    while (this.inFlight > 0) await new Promise<void>((resolve) => this.drainers.push(resolve));
  }

  /**
   * Stops retrying: a sleeping retry makes one last attempt, then goes to its DLQ; waits for the
   * rest. From here on PutEvents is refused (503 ServiceUnavailable), never accepted and then lost.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.sleepers) wake();
    await this.drain();
  }

  private findBus(nameOrArn: string | undefined): BusState | undefined {
    return this.buses.get(busNameOf(nameOrArn));
  }

  private bus(nameOrArn: string | undefined): BusState {
    const bus = this.findBus(nameOrArn);
    if (!bus)
      throw new EventBridgeApiError(
        'ResourceNotFoundException',
        `Event bus ${busNameOf(nameOrArn)} does not exist.`,
      );
    return bus;
  }

  /** Starts every matched target's delivery; a promise per target that settles with its first attempt. */
  private route(bus: BusState, accepted: AcceptedEvent): Promise<FirstAttempt>[] {
    const firstAttempts: Promise<FirstAttempt>[] = [];
    for (const ruleName of bus.index.match(accepted.event)) {
      const rule = bus.rules.get(ruleName) as RuleModel;
      this.matched.set(rule.name, (this.matched.get(rule.name) ?? 0) + 1);
      for (const target of rule.targets) firstAttempts.push(this.deliver(rule, target, accepted));
    }
    return firstAttempts;
  }

  private input(rule: RuleModel, target: TargetModel, accepted: AcceptedEvent): string {
    const { event, eventJson } = accepted;
    if (target.input !== undefined) return target.input;
    if (target.inputPath !== undefined)
      return JSON.stringify(applyInputPath(target.inputPath, event) ?? null);
    if (target.inputTransformer) {
      return applyInputTransformer(target.inputTransformer, event, {
        ruleArn: rule.arn,
        ruleName: rule.name,
        ingestionTime: accepted.ingestion,
        eventJson,
        detailJson: accepted.detailJson,
        detailMembers: accepted.detailMembers,
      });
    }
    return eventJson;
  }

  /** Sends `body` to the target; a send that throws becomes a rejection. */
  private send(rule: RuleModel, target: TargetModel, body: string): Promise<unknown> {
    try {
      const denied = this.options.authorizeDelivery?.({ rule, target, to: 'target' });
      if (denied) throw Object.assign(new Error(denied), { code: 'NO_PERMISSIONS' });
      const service = this.serviceOf(target.arn);
      if (service === 'sqs') return this.options.queues.send(target.arn, body);
      if (service === 'firehose') return this.options.firehose.putRecord(target.arn, body);
      throw Object.assign(
        new Error(`The local runtime delivers to SQS and Firehose only, not to ${target.arn}.`),
        {
          code: 'ResourceNotFoundException',
        },
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private serviceOf(arn: string): string {
    let service = this.services.get(arn);
    if (service === undefined) {
      service = serviceOf(arn);
      this.services.set(arn, service);
    }
    return service;
  }

  /**
   * Delivers the event to one target. Returns once the first attempt has settled; a failed one is
   * held until the caller resumes it (retries and the DLQ then go on in the background, in flight
   * until done) or abandons it. A first attempt that succeeds (the common case) costs one send and
   * one callback.
   */
  private deliver(rule: RuleModel, target: TargetModel, accepted: AcceptedEvent): Promise<FirstAttempt> {
    this.inFlight++;
    let body: string;
    try {
      body = this.input(rule, target, accepted);
    } catch (error) {
      // Nothing to send: the first attempt is the DLQ's.
      const failure = invalidInput(error);
      return this.firstAttempt(
        rule,
        target,
        () => this.sendToDeadLetterQueue(rule, target, accepted.eventJson, failure, 0),
        () => {
          this.counters.deadLettered++;
          this.log(
            `rule ${rule.name} target ${target.id}: ${failure.code}: ${failure.message}; sent to ${target.deadLetterArn}`,
          );
        },
        () => this.deadLetter(rule, target, accepted.eventJson, failure, 0),
      );
    }
    return this.firstAttempt(
      rule,
      target,
      () => this.send(rule, target, body),
      () => this.counters.deliveriesOk++,
      (error) => this.retry(rule, target, accepted, body, error),
    );
  }

  private firstAttempt(
    rule: RuleModel,
    target: TargetModel,
    attempt: () => Promise<unknown>,
    succeeded: () => void,
    afterFailure: (error: unknown) => Promise<void>,
  ): Promise<FirstAttempt> {
    return attempt().then(
      () => {
        succeeded();
        this.done();
        return DELIVERED;
      },
      (error: unknown): FirstAttempt => ({
        delivered: false,
        storage: isStorageUnavailable(error),
        error,
        resume: () => void this.finish(rule, target, afterFailure(error)),
        abandon: () => this.done(),
      }),
    );
  }

  /** Ends a delivery's time in flight once `work` settles, logging a crash. */
  private finish(rule: RuleModel, target: TargetModel, work: Promise<void>): Promise<void> {
    return work
      .catch((error: unknown) => {
        this.log(`rule ${rule.name} target ${target.id}: delivery crashed: ${(error as Error).message}`);
      })
      .finally(() => this.done());
  }

  private done(): void {
    if (--this.inFlight > 0) return;
    const drainers = this.drainers;
    this.drainers = [];
    for (const drained of drainers) drained();
  }

  /** After a failed first attempt: the target's retry policy, then its DLQ. */
  private async retry(
    rule: RuleModel,
    target: TargetModel,
    accepted: AcceptedEvent,
    body: string,
    firstError: unknown,
  ): Promise<void> {
    const { eventJson, ingestion } = accepted;
    this.counters.deliveriesFailed++;
    let failure = classify(firstError);
    const maxRetries = target.retryPolicy?.maximumRetryAttempts ?? DEFAULT_MAX_RETRY_ATTEMPTS;
    const maxAgeMs = (target.retryPolicy?.maximumEventAgeInSeconds ?? DEFAULT_MAX_EVENT_AGE_SECONDS) * 1000;
    let storageFailure = isStorageUnavailable(firstError);
    let storageWaits = 0;
    let retries = 0;
    for (;;) {
      let wait: number;
      if (storageFailure && !this.closed) {
        // The runtime's own disk, not the target, failed: wait for it without using up the
        // target's retry policy (AWS has no such failure), so the delivery is not dropped.
        wait = this.backoff(Math.min(++storageWaits, 8));
      } else {
        if (!failure.retryable || this.closed)
          return this.deadLetter(rule, target, eventJson, failure, retries);
        if (retries >= maxRetries)
          return this.deadLetter(rule, target, eventJson, failure, retries, 'MaximumRetryAttempts');
        wait = this.backoff(retries + 1);
        if (this.now().getTime() + wait - ingestion.getTime() > maxAgeMs) {
          return this.deadLetter(rule, target, eventJson, failure, retries, 'MaximumEventAgeInSeconds');
        }
        retries++;
      }
      await this.sleep(wait);
      try {
        await this.send(rule, target, body);
        this.counters.deliveriesOk++;
        return;
      } catch (error) {
        this.counters.deliveriesFailed++;
        failure = classify(error);
        storageFailure = isStorageUnavailable(error);
      }
    }
  }

  /** Sends the original event to the target's DLQ with the attributes EventBridge adds. */
  private async deadLetter(
    rule: RuleModel,
    target: TargetModel,
    eventJson: string,
    failure: DeliveryFailure,
    retries: number,
    exhausted?: 'MaximumRetryAttempts' | 'MaximumEventAgeInSeconds',
  ): Promise<void> {
    const what = `rule ${rule.name} target ${target.id}: ${failure.code}: ${failure.message}`;
    if (!target.deadLetterArn) {
      this.counters.dropped++;
      this.log(`${what}; no dead-letter queue configured, event dropped`);
      return;
    }
    for (let waits = 1; ; waits++) {
      try {
        await this.sendToDeadLetterQueue(rule, target, eventJson, failure, retries, exhausted);
        this.counters.deadLettered++;
        this.log(`${what}; sent to ${target.deadLetterArn}`);
        return;
      } catch (error) {
        // A full disk: the DLQ send waits for it rather than drop the event.
        if (isStorageUnavailable(error) && !this.closed) {
          await this.sleep(this.backoff(Math.min(waits, 8)));
          continue;
        }
        this.counters.dropped++;
        this.log(`${what}; the dead-letter queue failed too (${(error as Error).message}), event dropped`);
        return;
      }
    }
  }

  /** One send of the original event to the target's DLQ, with the attributes EventBridge adds. */
  private sendToDeadLetterQueue(
    rule: RuleModel,
    target: TargetModel,
    eventJson: string,
    failure: DeliveryFailure,
    retries: number,
    exhausted?: 'MaximumRetryAttempts' | 'MaximumEventAgeInSeconds',
  ): Promise<unknown> {
    if (!target.deadLetterArn) {
      return Promise.reject(new Error(`rule ${rule.name} target ${target.id} has no dead-letter queue`));
    }
    const attribute = (value: string): SqsMessageAttribute => ({ DataType: 'String', StringValue: value });
    const attributes: Record<string, SqsMessageAttribute> = {
      RULE_ARN: attribute(rule.arn),
      TARGET_ARN: attribute(target.arn),
      ERROR_CODE: attribute(failure.code),
      ERROR_MESSAGE: attribute(failure.message),
      RETRY_ATTEMPTS: attribute(String(retries)),
      ...(exhausted && { EXHAUSTED_RETRY_CONDITION: attribute(exhausted) }),
    };
    try {
      const denied = this.options.authorizeDelivery?.({ rule, target, to: 'dead-letter' });
      if (denied) throw new Error(denied);
      return this.options.queues.send(target.deadLetterArn, eventJson, attributes);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private interruptibleSleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }
}

/** Lets a held failed first attempt go on with its retries. */
function resumeIfHeld(attempt: FirstAttempt): void {
  if (!attempt.delivered) attempt.resume();
}
