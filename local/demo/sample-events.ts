// The sample generator now lives in functions/producer (the CLI's `inferbus events sample` uses it too).
export {
  type SampleEntry,
  type SampleKind,
  type SampleOptions,
  sampleEntries,
} from '../../functions/producer/samples';
