import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkLevelDbFolder } from '../dynamodb/leveldb-check.js';
import type { SalvagedFile } from './report.js';
import { emptySqsLog, salvageSqsLog } from './sqs-log.js';
import { salvageWalSegment } from './wal-segment.js';

/** Folders of the state read record by record; everything else is copied as it is. */
const SQS = 'sqs';
const FIREHOSE = 'firehose';
const DYNAMODB = 'dynamodb';

/**
 * Copies the state folder `from` into the new folder `to`, record by record where the state has
 * records: the SQS log and the Firehose write-ahead log keep every intact record (checksums
 * verified), the DynamoDB folder is copied only when it is whole, the rest (the S3 objects) as it is.
 * Never writes to `from`. Returns what was done with each file, and what could not be read.
 */
export function salvageStateDir(from: string, to: string): SalvagedFile[] {
  const report: SalvagedFile[] = [];
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    const source = join(from, name);
    if (name === SQS) report.push(salvageSqs(source, join(to, SQS)));
    else if (name === FIREHOSE) report.push(...salvageFirehose(source, join(to, FIREHOSE)));
    else if (name === DYNAMODB) report.push(salvageDynamoDb(source, join(to, DYNAMODB)));
    else {
      cpSync(source, join(to, name), { recursive: true });
      report.push({ path: source, lost: [] });
    }
  }
  return report;
}

function salvageSqs(source: string, target: string): SalvagedFile {
  const log = join(source, 'queues.log');
  mkdirSync(target, { recursive: true });
  if (!existsSync(log)) {
    writeFileSync(join(target, 'queues.log'), emptySqsLog());
    return {
      path: log,
      kept: 0,
      lost: [],
      skipped: 'the log is missing: the new folder starts with empty queues',
    };
  }
  const salvaged = salvageSqsLog(readFileSync(log));
  writeFileSync(join(target, 'queues.log'), salvaged.bytes);
  return { path: log, kept: salvaged.kept, lost: salvaged.lost };
}

function salvageFirehose(source: string, target: string): SalvagedFile[] {
  const report: SalvagedFile[] = [];
  for (const stream of readdirSync(source)) {
    const dir = join(source, stream);
    if (!statSync(dir).isDirectory()) continue;
    mkdirSync(join(target, stream), { recursive: true });
    for (const name of readdirSync(dir).filter((n) => /^\d+\.wal$/.test(n))) {
      const file = join(dir, name);
      const salvaged = salvageWalSegment(readFileSync(file));
      if (salvaged.kept > 0) writeFileSync(join(target, stream, name), salvaged.bytes);
      report.push({ path: file, kept: salvaged.kept, lost: salvaged.lost });
    }
  }
  return report;
}

function salvageDynamoDb(source: string, target: string): SalvagedFile {
  try {
    checkLevelDbFolder(source);
  } catch (error) {
    return {
      path: source,
      lost: [],
      skipped: `${(error as Error).message.split('. ')[0]}. Left out: the new folder starts with empty tables (tenant quotas and stream sequence state start over)`,
    };
  }
  cpSync(source, target, { recursive: true, filter: (path) => !path.endsWith('LOCK') });
  return { path: source, lost: [] };
}
