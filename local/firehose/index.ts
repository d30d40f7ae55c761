export type { FormatConversionFailure } from './delivery-error';
export { columnCodec } from './glue-types';
export {
  FirehoseDeliveryError,
  type FirehoseStreamCounters,
  LocalFirehose,
  type LocalFirehoseOptions,
  UnknownDeliveryStreamError,
} from './local-firehose';
export { convertRecord } from './openx';
export { expandPrefix, formatTimestamp, objectKeySuffix } from './prefix';
export { FirehoseWal, type WalLocation, type WalRecord } from './wal';
