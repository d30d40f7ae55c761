// Fault scenario "redriveGivenUp": one tenant's one stream, with 70% of PutEvents entries failing
// (seeded), so that more than 100 non-adjacent sequence ranges are dead-lettered and given up by the
// tier-1 stream gate (past MAX_GIVEN_UP_RANGES, where the oldest ranges are merged). Then the runtime
// restarts without faults and `inferbus dlq redrive` (the real CLI) moves tier 1's DLQ back to its
// work queue: every redriven request must end processed with `ordering.late: true`, or dead-lettered
// again with its reason; none may be skipped as a duplicate (no outcome at all). A DLQ copy of a
// request that already had its result (a batch that timed out after publishing, received again
// and then dead-lettered: at least once) is counted apart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AthenaClient } from '@aws-sdk/client-athena';
import { DetailType, RESULT_SOURCE } from '../../functions/core/events';
import { MAX_GIVEN_UP_RANGES } from '../../functions/core/stream-gate';
import { runQuery, sqlLiteral } from '../../functions/shared/athena-query';
import type { LocalRuntime } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import { jsonLines, runCli } from '../support/local-cli';
import {
  collect,
  type Reconciliation,
  reconcile,
  requestKey,
  sendSamples,
  startRuntime,
  tenantsOf,
  waitUntilIdle,
} from './reconcile';

const FAULTS = { publishFailureRate: 0.7, seed: 3 };

/** Runs of consecutive numbers in `seqs`: each a range the gate gave up on its own. */
function runsOf(seqs: readonly number[]): number {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  return sorted.filter((n, i) => i === 0 || (sorted[i - 1] as number) !== n - 1).length;
}

/** Every archived result of the handlers: its request and whether it was marked `ordering.late`. */
async function completedRows(runtime: LocalRuntime): Promise<{ key: string; late: boolean }[]> {
  const athena = new AthenaClient({
    endpoint: runtime.endpoint,
    region: runtime.model.region,
    credentials: LOCAL_S3_CREDENTIALS,
  });
  try {
    const { rows } = await runQuery(
      athena,
      runtime.model.workGroups[0]?.name ?? 'primary',
      runtime.model.glueTables[0]?.databaseName ?? 'default',
      `SELECT tenant, source_event_id, json_extract_scalar(payload, '$.ordering.late') AS late
FROM events WHERE detail_type = ? AND source = ?`,
      [sqlLiteral(DetailType.InferenceCompleted), sqlLiteral(RESULT_SOURCE)],
    );
    return rows.map((r) => ({
      key: requestKey(String(r.tenant), String(r.source_event_id)),
      late: r.late === 'true',
    }));
  } finally {
    athena.destroy();
  }
}

export async function runRedriveScenario(options: {
  requests: number;
  out: (line: string) => void;
}): Promise<Reconciliation> {
  const name = 'redriveGivenUp';
  const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-faults-redrive-'));
  const work = mkdtempSync(join(tmpdir(), 'inferbus-faults-redrive-cli-'));
  const problems: string[] = [];
  try {
    const faulty = await startRuntime(stateDir, FAULTS, () => {});
    let accepted: string[];
    let tenant: string;
    try {
      const [first] = tenantsOf(faulty.model);
      if (!first) throw new Error('the template configures no tenant');
      tenant = first.id;
      accepted = await sendSamples(
        { endpoint: faulty.endpoint, region: faulty.model.region },
        faulty.model,
        options.requests,
        // One stream of the spam task: the DLQ below is its tier 1's (with two tasks taking turns,
        // half the requests would go to another stream and fewer ranges would be given up).
        { tenants: [{ id: tenant, weight: 1 }], tasks: ['spam'] },
      );
      if (!(await waitUntilIdle(faulty))) problems.push('the faulty run did not settle in time');
    } finally {
      await faulty.stop();
    }

    const runtime = await startRuntime(stateDir, undefined, () => {});
    try {
      const cli = (args: string[]) => runCli(runtime, work, args);
      const dlq = `inferbus-dev-spam-t1-${tenant}-dlq`;
      const shown = await cli(['dlq', 'show', dlq, '--limit', '10000', '--format', 'json']);
      if (shown.code !== 0) throw new Error(`inferbus dlq show ${dlq} failed: ${shown.stderr}`);
      const before = jsonLines(shown.stdout) as { eventId?: string; tenant?: string }[];
      const redriven = before.map((m) => requestKey(String(m.tenant), String(m.eventId)));
      const seqOf = (key: string) => Number(key.slice(key.lastIndexOf('-') + 1));
      const ranges = runsOf(redriven.map(seqOf));
      if (ranges <= MAX_GIVEN_UP_RANGES)
        problems.push(`only ${ranges} given-up range(s), not more than ${MAX_GIVEN_UP_RANGES}`);
      const answeredBefore = new Set((await completedRows(runtime)).map((r) => r.key));
      const redrive = await cli(['dlq', 'redrive', dlq]);
      if (redrive.code !== 0) problems.push(`inferbus dlq redrive exited ${redrive.code}: ${redrive.stderr}`);
      const settled = await waitUntilIdle(runtime);
      const target = { endpoint: runtime.endpoint, region: runtime.model.region };
      const collected = await collect(target, runtime.model);
      const lateKeys = new Set((await completedRows(runtime)).filter((r) => r.late).map((r) => r.key));
      const deadAgain = new Map(collected.deadLetters.map((d) => [d.id, d]));
      let late = 0;
      let again = 0;
      let already = 0;
      const skipped: string[] = [];
      for (const key of redriven) {
        if (lateKeys.has(key)) late++;
        // At least once: a batch that timed out after publishing was received again and its
        // retries dead-lettered, so the DLQ copy is a second attempt of an answered request.
        else if (answeredBefore.has(key)) already++;
        else if (deadAgain.get(key)?.errorCode) again++;
        else skipped.push(key);
      }
      if (skipped.length > 0)
        problems.push(
          `${skipped.length} redriven request(s) neither processed late nor dead-lettered again: ${skipped.slice(0, 5).join(', ')}`,
        );
      options.out(
        `[${name}] ${redriven.length} request(s) dead-lettered in ${ranges} non-adjacent range(s) of stream ${tenant}/inbox; redrive: ${redrive.stdout.trim()}; then ${late} processed late, ${again} dead-lettered again with a reason, ${already} answered before the redrive, ${skipped.length} skipped`,
      );
      const note = [
        `${redriven.length} redriven from ${ranges} given-up range(s): ${late} late, ${again} dead-lettered again, ${already} answered before, ${skipped.length} skipped`,
        ...(settled ? [] : ['did not settle in time']),
      ].join('; ');
      return reconcile(name, accepted, collected, note, undefined, redriven.length > 0, problems);
    } finally {
      await runtime.stop();
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}
