// A local Firehose in a child process, for firehose-kill.test.ts (`node --import tsx <this> <walDir> <s3Endpoint> <bucket>`).
// Accepts records, starts a flush whose S3 write lands but never returns (the process is killed there,
// before the write-ahead log is released), accepts more records, prints `ACKED <ids>` and waits to be killed.
import type { S3Client } from '@aws-sdk/client-s3';
import { archiveModels, archiveRecords } from '../../bench/archive';
import { LocalFirehose } from '../../local/firehose';
import { localS3Client } from '../../local/s3';

const [walDir, endpoint, bucket] = process.argv.slice(2);
if (!walDir || !endpoint || !bucket) {
  process.stderr.write('usage: firehose-kill-child.ts <walDir> <s3Endpoint> <bucket>\n');
  process.exit(2);
}
const models = archiveModels(bucket);
const real = localS3Client(endpoint);
let written!: () => void;
const firstWrite = new Promise<void>((resolve) => {
  written = resolve;
});
const hangsAfterWriting = {
  send: async (command: unknown) => {
    await real.send(command as never);
    written();
    await new Promise(() => {});
  },
} as unknown as S3Client;
const firehose = new LocalFirehose({
  streams: [models.stream],
  tables: [models.table],
  s3: hangsAfterWriting,
  walDir,
  bufferingIntervalSeconds: 3600,
});
const records = archiveRecords(4);
const half = Math.floor(records.length / 2);
for (const record of records.slice(0, half))
  await firehose.putRecord(models.stream.arn, JSON.stringify(record));
void firehose.flush();
await firstWrite;
for (const record of records.slice(half)) await firehose.putRecord(models.stream.arn, JSON.stringify(record));
process.stdout.write(`ACKED ${JSON.stringify({ flushed: half, ids: records.map((r) => r.event_id) })}\n`);
setInterval(() => {}, 1000);
