// Fault scenario "forgedResult": results for another tenant's requests, put on the bus by someone
// other than the handlers. A producer (the user's credentials) putting InferenceCompleted,
// EscalationRequested or the results source is refused by the bus policy (AccessDeniedException);
// a forgery through a handler's own credentials (a handler bug, or a compromised one) gets through
// and is archived, and the reconciliation, reading outcomes with the named query
// `exactly-once-outcomes` (what an operator reads), must count no outcome the tenant never asked for.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AthenaClient } from '@aws-sdk/client-athena';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { NAMED_QUERIES } from '../../functions/core/archive/named-queries';
import { DetailType, RESULT_SOURCE, tenantSource } from '../../functions/core/events';
import { runQuery, sqlLiteral } from '../../functions/shared/athena-query';
import type { LocalRuntime } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import {
  busNameOf,
  type Collected,
  collect,
  type Reconciliation,
  reconcile,
  requestKey,
  sendSamples,
  startRuntime,
  tenantOfKey,
  waitUntilIdle,
} from './reconcile';

/** The label every forgery claims: no real result carries it. */
const FORGED_LABEL = 'forged';

interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** A result-shaped event from `source`, claiming `sourceEventId` for `tenant`. */
function forgery(
  runtime: LocalRuntime,
  n: number,
  tenant: string,
  sourceEventId: string,
  source: string,
  detailType: string,
): PutEventsRequestEntry {
  return {
    EventBusName: busNameOf(runtime.model),
    Source: source,
    DetailType: detailType,
    Detail: JSON.stringify({
      id: `${tenant}:forged-${n}:t2:result`,
      tenant,
      stream: 'inbox',
      seq: 1,
      hlc: `${Date.now()}-0-forger`,
      type: 'inference.completed',
      payload: { sourceEventId, tier: 2, label: FORGED_LABEL, score: 0.99 },
      metadata: {},
      time: new Date().toISOString(),
    }),
  };
}

/** The error name PutEvents answered (one entry per call: a request whose entries are all denied fails whole). */
async function put(runtime: LocalRuntime, entry: PutEventsRequestEntry, credentials: Credentials) {
  const events = new EventBridgeClient({
    endpoint: runtime.endpoint,
    region: runtime.model.region,
    credentials,
    maxAttempts: 1,
  });
  try {
    const response = await events.send(new PutEventsCommand({ Entries: [entry] }));
    const result = response.Entries?.[0];
    return result?.EventId ? 'accepted' : String(result?.ErrorCode);
  } catch (error) {
    return (error as Error).name;
  } finally {
    events.destroy();
  }
}

/** The credentials tier 1's execution environments get (its role's own access key). */
function tier1Credentials(runtime: LocalRuntime): Credentials {
  const fn = runtime.model.functions.find((f) => f.environment.INFERBUS_TIER === '1');
  if (!fn) throw new Error('the template has no tier-1 function (INFERBUS_TIER=1)');
  const env = runtime.lambda.environmentOf(fn.logicalId);
  return {
    accessKeyId: env.AWS_ACCESS_KEY_ID as string,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string,
    sessionToken: env.AWS_SESSION_TOKEN,
  };
}

/** `exactly-once-outcomes` over yesterday to tomorrow: one row per (tenant, request). */
async function namedOutcomes(runtime: LocalRuntime): Promise<Record<string, unknown>[]> {
  const query = NAMED_QUERIES.find((q) => q.name === 'exactly-once-outcomes');
  if (!query) throw new Error('named query exactly-once-outcomes is missing');
  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
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
      query.sql,
      [sqlLiteral(day(-1)), sqlLiteral(day(1))],
    );
    return rows;
  } finally {
    athena.destroy();
  }
}

/** Archived rows carrying the forged label, whatever their source (what got past the bus). */
async function forgedRowsArchived(runtime: LocalRuntime): Promise<number> {
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
      // By id: a forgery that lacks a field the handlers' results carry is archived with its
      // envelope columns only (the archive rules keep to guaranteed paths), so its label is empty.
      "SELECT count(*) AS n FROM events WHERE envelope_id LIKE '%:forged-%'",
      [],
    );
    return Number(rows[0]?.n ?? 0);
  } finally {
    athena.destroy();
  }
}

export async function runForgedResultScenario(options: {
  requests: number;
  out: (line: string) => void;
}): Promise<Reconciliation> {
  const name = 'forgedResult';
  const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-faults-forge-'));
  const logs: string[] = [];
  const runtime = await startRuntime(stateDir, undefined, (line) => logs.push(line));
  try {
    const target = { endpoint: runtime.endpoint, region: runtime.model.region };
    const accepted = await sendSamples(target, runtime.model, options.requests);
    const tenants = [...new Set(accepted.map(tenantOfKey))].sort();
    const [attacker, victim] = tenants;
    if (!attacker || !victim) throw new Error(`the sample reached ${tenants.length} tenant(s); need two`);
    const idOf = (key: string) => key.slice(key.indexOf('/') + 1);
    // One id the victim sent (a result that would replace its own), and one only the attacker sent
    // (invented for the victim, though the id exists under another tenant).
    const victimsId = idOf(accepted.find((k) => tenantOfKey(k) === victim) as string);
    const attackersId = idOf(accepted.find((k) => tenantOfKey(k) === attacker) as string);
    const claims = [victimsId, attackersId];
    const user = LOCAL_S3_CREDENTIALS;
    const producerTries = claims.flatMap((id, i) => [
      forgery(runtime, 10 + i, victim, id, tenantSource(attacker), DetailType.InferenceCompleted),
      forgery(runtime, 20 + i, victim, id, tenantSource(attacker), DetailType.EscalationRequested),
      forgery(runtime, 30 + i, victim, id, RESULT_SOURCE, DetailType.InferenceCompleted),
    ]);
    const producerAnswers = await Promise.all(producerTries.map((e) => put(runtime, e, user)));
    const handler = tier1Credentials(runtime);
    const handlerAnswers = await Promise.all(
      claims.map((id, i) =>
        put(
          runtime,
          forgery(runtime, 40 + i, victim, id, tenantSource(attacker), DetailType.InferenceCompleted),
          handler,
        ),
      ),
    );
    const settled = await waitUntilIdle(runtime);
    const fromQueues = await collect(target, runtime.model);
    const rows = await namedOutcomes(runtime);
    const archivedForgeries = await forgedRowsArchived(runtime);

    const problems: string[] = [];
    const notRefused = producerAnswers.filter((a) => a !== 'AccessDeniedException');
    if (notRefused.length > 0)
      problems.push(`producer forgeries answered ${notRefused.join(', ')} instead of AccessDeniedException`);
    const handlerRefused = handlerAnswers.filter((a) => a !== 'accepted');
    if (handlerRefused.length > 0)
      problems.push(`handler-credential forgeries were not accepted (${handlerRefused.join(', ')})`);
    if (archivedForgeries !== handlerAnswers.length)
      problems.push(`${archivedForgeries} forged row(s) archived, ${handlerAnswers.length} expected`);
    const believed = rows.filter((r) => r.label === FORGED_LABEL);
    if (believed.length > 0)
      problems.push(`exactly-once-outcomes believed ${believed.length} forged result(s)`);
    // Outcomes as the named query gives them; dead letters (with their reasons) from the DLQs.
    const collected: Collected = {
      completedRows: rows
        .filter((r) => r.outcome === DetailType.InferenceCompleted)
        .map((r) => requestKey(String(r.tenant), String(r.source_event_id))),
      deadLetters: fromQueues.deadLetters,
    };
    options.out(
      `[${name}] ${attacker} as producer forged ${producerTries.length} result event(s) for ${victim}: ${producerAnswers.join(', ')}; through tier 1's credentials ${handlerAnswers.length}: ${handlerAnswers.join(', ')}; ${archivedForgeries} archived, ${believed.length} believed by exactly-once-outcomes`,
    );
    const note = [
      `outcomes read with exactly-once-outcomes; ${producerTries.length} producer forgeries refused, ${archivedForgeries} handler-credential forgeries archived and not counted`,
      ...(settled ? [] : ['did not settle in time']),
    ].join('; ');
    return reconcile(name, accepted, collected, note, undefined, true, problems);
  } finally {
    await runtime.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
