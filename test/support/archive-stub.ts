import { ArchiveWriter } from '../../functions/shared/archive-writer';

/** An archive writer whose Firehose accepts every record, keeping what it was sent (unit tests). */
export function acceptingArchive(): { archive: ArchiveWriter; records: string[] } {
  const records: string[] = [];
  const archive = new ArchiveWriter({
    async putRecordBatch(batch) {
      records.push(...batch);
      return batch.map(() => undefined);
    },
  });
  return { archive, records };
}

/** EventBridge's answer to a PutEvents of `entries`, all accepted, each with an event id. */
export function acceptedWithIds(entries: readonly unknown[], prefix = 'eb') {
  return {
    failed: new Map<number, string>(),
    eventIds: new Map(entries.map((_, i) => [i, `${prefix}-${i}`])),
  };
}
