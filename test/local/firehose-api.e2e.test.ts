import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AthenaClient } from '@aws-sdk/client-athena';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveRowOf } from '../../functions/core/archive/rows';
import { PROJECT_ROOT } from '../../lib/app';
import { runQuery } from '../../local/demo/athena-client';
import { LocalRuntime } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import { requestEvent } from '../support/sqs-records';

/**
 * The archive's Firehose stream as the tier handlers write their rows of packs (PutRecordBatch),
 * through a real AWS client (the AWS CLI, which speaks Firehose's JSON protocol and signs with the
 * function's own credentials) against the local runtime: authorized by the synthesized roles, rows
 * concatenated in one record, archived one row each, queryable like any event's row.
 */
const execFileAsync = promisify(execFile);
let rt: LocalRuntime;

beforeAll(async () => {
  rt = await LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    port: 0,
    stateDir: mkdtempSync(join(tmpdir(), 'inferbus-firehose-api-')),
    log: () => {},
    firehoseIntervalSeconds: 1,
  });
}, 180_000);

afterAll(async () => {
  await rt?.stop();
});

const fnId = (prefix: string) =>
  rt.model.functions.find((f) => f.logicalId.startsWith(prefix))?.logicalId as string;
const archiveStream = () => rt.model.deliveryStreams[0]?.name as string;

/** `aws firehose <operation>` with a function's credentials; the CLI's exit code and output. */
async function firehoseCli(functionPrefix: string | undefined, operation: string, input: object) {
  // No function: the developer's own credentials.
  const credentials = functionPrefix ? rt.iam?.credentialsOf(fnId(functionPrefix)) : LOCAL_S3_CREDENTIALS;
  if (!credentials) throw new Error('the local IAM is on in dev');
  try {
    const { stdout } = await execFileAsync(
      'aws',
      [
        'firehose',
        operation,
        '--endpoint-url',
        rt.endpoint,
        '--cli-input-json',
        JSON.stringify(input),
        '--output',
        'json',
      ],
      {
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
          AWS_DEFAULT_REGION: rt.model.region,
          AWS_MAX_ATTEMPTS: '1',
          AWS_RETRY_MODE: 'standard',
        },
      },
    );
    return { code: 0, output: JSON.parse(stdout) };
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, output: e.stderr };
  }
}

const rowOf = (id: string) => {
  const event = JSON.parse(requestEvent(id, `text of ${id}`, 'acme'));
  event.id = `eb-pack-${id}`;
  return archiveRowOf(event, '2026-11-28T12:00:00.000Z');
};

describe('the archive stream behind the handlers', () => {
  it("takes a tier function's PutRecordBatch of concatenated rows and archives one row each", async () => {
    const ids = ['fh-1', 'fh-2', 'fh-3'];
    const put = await firehoseCli('TaskSpamTier1', 'put-record-batch', {
      DeliveryStreamName: archiveStream(),
      // The CLI base64-encodes blob members itself.
      Records: [{ Data: ids.map(rowOf).join('') }],
    });
    expect(put).toMatchObject({ code: 0, output: { FailedPutCount: 0 } });
    expect(put.output.RequestResponses).toHaveLength(1);

    await rt.firehose.flush();
    const athena = new AthenaClient({
      endpoint: rt.endpoint,
      region: rt.model.region,
      credentials: LOCAL_S3_CREDENTIALS,
    });
    const table = rt.model.glueTables[0];
    const result = await runQuery(
      athena,
      rt.model.workGroups[0]?.name as string,
      table?.databaseName as string,
      "SELECT envelope_id, event_id, tenant, stream FROM events WHERE envelope_id LIKE 'fh-%' ORDER BY envelope_id",
      [],
    );
    expect(result.rows).toEqual(
      ids.map((id) => ({ envelope_id: id, event_id: `eb-pack-${id}`, tenant: 'acme', stream: 'inbox' })),
    );
    const counters = rt.firehose.counters()[archiveStream()];
    expect(counters?.conversionFailures).toBe(0);
  });

  it('refuses what the role does not grant (PutRecord), and an unknown stream, as Firehose does', async () => {
    const single = await firehoseCli('TaskSpamTier2', 'put-record', {
      DeliveryStreamName: archiveStream(),
      Record: { Data: rowOf('fh-x') },
    });
    expect(single.code).not.toBe(0);
    expect(single.output).toMatch(
      /AccessDeniedException.*firehose:PutRecord on resource: arn:aws:firehose:/s,
    );
    const unknown = await firehoseCli('TaskSpamTier2', 'put-record-batch', {
      DeliveryStreamName: 'no-such-stream',
      Records: [{ Data: rowOf('fh-y') }],
    });
    expect(unknown.code).not.toBe(0);
    // Denied first: the grant names the archive stream only.
    expect(unknown.output).toMatch(/AccessDeniedException/);
    const missing = await firehoseCli(undefined, 'put-record-batch', {
      DeliveryStreamName: 'no-such-stream',
      Records: [{ Data: rowOf('fh-y') }],
    });
    expect(missing.output).toMatch(
      /ResourceNotFoundException.*Firehose no-such-stream under account \d{12} not found/s,
    );
  });
});
