// A local S3 in a child process, for s3-atomic-writes.test.ts (`node --import tsx <this> <stateDir> <bucket>`):
// prints `READY <endpoint>` and serves until it is killed.
import { startLocalS3 } from '../../local/s3';

const [stateDir, bucket] = process.argv.slice(2);
if (!stateDir || !bucket) {
  process.stderr.write('usage: s3-kill-child.ts <stateDir> <bucket>\n');
  process.exit(2);
}
const s3 = await startLocalS3({ stateDir, buckets: [{ logicalId: 'Archive', name: bucket }] });
process.stdout.write(`READY ${s3.endpoint}\n`);
setInterval(() => {}, 1000);
