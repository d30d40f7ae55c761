// Fault scenario "sampleSentTwice": the sample traffic sent twice, as `inferbus events sample |
// inferbus put-events -` did before each run had its own stream: the second run takes the same
// (tenant, stream, seq) numbers under fresh ids, and a few of the first run's events are sent again
// unchanged (the same event twice, like the README's AWS CLI example run twice). Every accepted id
// must end with exactly one outcome, and the reused numbers must show in the results.

import { AthenaClient } from '@aws-sdk/client-athena';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { NAMED_QUERIES } from '../../functions/core/archive/named-queries';
import { sampleEntries } from '../../functions/producer/samples';
import { runQuery, sqlLiteral } from '../../functions/shared/athena-query';
import type { TemplateModel } from '../../local/model';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import { busNameOf, type Collected, requestKey, sampleTasksOf, type Target, tenantsOf } from './reconcile';

const AGAIN = 'again-';
/** How many of the first run's events are sent a second time unchanged. */
const RESENT = 10;

const clientConfig = (t: Target) => ({
  endpoint: t.endpoint,
  region: t.region,
  credentials: LOCAL_S3_CREDENTIALS,
});

/** Sends the sample, then its numbers again under fresh ids, then some first-run events again; the distinct requests accepted. */
export async function sendSampleTwice(
  target: Target,
  model: TemplateModel,
  count: number,
): Promise<string[]> {
  const samples = sampleEntries({
    count,
    busName: busNameOf(model),
    tenants: tenantsOf(model),
    tasks: await sampleTasksOf(model),
    poisonShare: 0.03,
    rejected: 0,
  }).map((s) => ({ ...s.entry, Resources: undefined }));
  const renamed = samples.map((entry) => {
    const detail = JSON.parse(entry.Detail as string);
    return { ...entry, Detail: JSON.stringify({ ...detail, id: `${AGAIN}${detail.id}` }) };
  });
  const events = new EventBridgeClient(clientConfig(target));
  const accepted = new Set<string>();
  const all = [...samples, ...renamed, ...samples.slice(0, RESENT)];
  for (let i = 0; i < all.length; i += 10) {
    const group = all.slice(i, i + 10);
    const response = await events.send(new PutEventsCommand({ Entries: group }));
    response.Entries?.forEach((result, j) => {
      if (!result.EventId) return;
      const detail = JSON.parse(group[j]?.Detail as string);
      accepted.add(requestKey(detail.tenant, detail.id));
    });
  }
  events.destroy();
  return [...accepted];
}

/**
 * Exactly one outcome per accepted id, read with the named query `exactly-once-outcomes` (the
 * view an operator uses), never both a result and a DLQ copy; and reused numbers flagged.
 */
export async function everyIdOneOutcome(
  target: Target,
  model: TemplateModel,
  accepted: readonly string[],
  collected: Collected,
): Promise<string[]> {
  const query = NAMED_QUERIES.find((q) => q.name === 'exactly-once-outcomes');
  if (!query) return ['named query exactly-once-outcomes is missing'];
  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  const athena = new AthenaClient(clientConfig(target));
  const { rows } = await runQuery(
    athena,
    model.workGroups[0]?.name ?? 'primary',
    model.glueTables[0]?.databaseName ?? 'default',
    query.sql,
    [sqlLiteral(day(-1)), sqlLiteral(day(1))],
  );
  athena.destroy();
  const outcomes = new Map<string, number>();
  for (const row of rows) {
    const key = requestKey(String(row.tenant), String(row.source_event_id));
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  }
  const completed = new Set(collected.completedRows);
  const problems: string[] = [];
  const without = accepted.filter((id) => !outcomes.has(id));
  if (without.length)
    problems.push(`${without.length} accepted id(s) with no outcome row: ${without.slice(0, 5).join(', ')}`);
  const many = [...outcomes].filter(([, n]) => n > 1).map(([id]) => id);
  if (many.length)
    problems.push(`${many.length} id(s) with several outcome rows: ${many.slice(0, 5).join(', ')}`);
  const both = collected.deadLetters.filter((d) => completed.has(d.id)).map((d) => d.id);
  if (both.length)
    problems.push(`${both.length} id(s) both answered and dead-lettered: ${both.slice(0, 5).join(', ')}`);
  const reused = rows.filter((r) => r.ordering_flag === 'reused').length;
  if (reused === 0) problems.push('no outcome is flagged reused: the second run never met a used number');
  return problems;
}
