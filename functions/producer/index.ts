/** The inferbus producer library: `createProducer` and the building blocks the CLI shares. */
export {
  ClaimCheckUnavailableError,
  type ClaimStore,
  claimCheckIfNeeded,
  claimKey,
  S3ClaimStore,
} from './claims';
export { classifyError, describeError, type FailureKind } from './errors';
export { Outbox, type OutboxOptions } from './outbox';
export {
  createProducer,
  type EmitOptions,
  type FlushReport,
  type Producer,
  type ProducerOptions,
} from './producer';
export {
  type EntryFailure,
  putOnce,
  rateLimiter,
  type SendOptions,
  type SendReport,
  sendEntries,
} from './sender';
