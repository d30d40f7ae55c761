// Fault scenario "packedTraffic": the sample traffic sent in packs (functions/core/packing/pack.ts),
// every other PutEvents batch encoded, while the handlers fail 30% of their publishes. A result pack
// that fails hands its whole message back, so packs are retried whole and their answered requests
// come back as sequence duplicates; the reconciliation still counts each request on its own (a
// result, or a DLQ message with its reason), each request is dead-lettered at most once (a pack's
// poison waits until the pack is done), and each request's archive row must be there.

import { AthenaClient } from '@aws-sdk/client-athena';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ARCHIVE_TABLE_NAME } from '../../functions/core/archive/columns';
import { createPackCodec } from '../../functions/core/packing/codec';
import { type PackInput, planPacks } from '../../functions/core/packing/pack';
import { sampleEntries } from '../../functions/producer/samples';
import { runQuery } from '../../functions/shared/athena-query';
import type { TemplateModel } from '../../local/model';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import { busNameOf, type Collected, requestKey, sampleTasksOf, type Target, tenantsOf } from './reconcile';

/** Samples per producer batch: about ten requests per (tenant, task) pack with three tenants and two tasks. */
const BATCH = 60;

const clientConfig = (t: Target) => ({
  endpoint: t.endpoint,
  region: t.region,
  credentials: LOCAL_S3_CREDENTIALS,
});

/** How the last send went out: packs and single events (a verify checks packs were sent at all). */
const sentShape = { packs: 0, singles: 0 };

/** Sends the sample requests packed, batch by batch (every other batch encoded); the request keys accepted. */
export async function sendPacked(target: Target, model: TemplateModel, count: number): Promise<string[]> {
  const samples = sampleEntries({
    count,
    busName: busNameOf(model),
    tenants: tenantsOf(model),
    tasks: await sampleTasksOf(model),
    poisonShare: 0.03,
    rejected: 0,
  });
  const codec = await createPackCodec();
  const events = new EventBridgeClient(clientConfig(target));
  const accepted: string[] = [];
  sentShape.packs = 0;
  sentShape.singles = 0;
  for (let start = 0, batch = 0; start < samples.length; start += BATCH, batch++) {
    const inputs: PackInput[] = samples.slice(start, start + BATCH).map((s) => ({
      envelope: JSON.parse(s.entry.Detail as string),
      source: s.entry.Source as string,
      detailType: s.entry.DetailType as string,
    }));
    const planned = planPacks(inputs, undefined, batch % 2 === 0 ? codec : undefined);
    for (let i = 0; i < planned.length; i += 10) {
      const group = planned.slice(i, i + 10);
      const response = await events.send(
        new PutEventsCommand({
          Entries: group.map((p) => ({ ...p.entry, Resources: undefined, EventBusName: busNameOf(model) })),
        }),
      );
      response.Entries?.forEach((result, j) => {
        const entry = group[j];
        if (!result.EventId || !entry) return;
        if (entry.indexes.length > 1) sentShape.packs++;
        else sentShape.singles++;
        for (const index of entry.indexes) {
          const { tenant, id } = (inputs[index] as PackInput).envelope;
          accepted.push(requestKey(tenant, id));
        }
      });
    }
  }
  events.destroy();
  return accepted;
}

/**
 * Beyond the reconciliation: packs went out (not only single events), and every accepted request
 * has its InferenceRequested row in the archive (written by the entry tier's handler for packs).
 */
export async function everyPackedRequestArchived(
  target: Target,
  model: TemplateModel,
  accepted: readonly string[],
  collected: Collected,
): Promise<string[]> {
  const problems: string[] = [];
  if (sentShape.packs === 0) problems.push('no pack was sent: the scenario ran single events only');
  // A pack handed back comes again whole: its poison requests must still be dead-lettered once.
  const ids = collected.deadLetters.map((d) => d.id);
  const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (twice.length > 0) {
    problems.push(`${twice.length} request(s) dead-lettered more than once: ${twice.slice(0, 5).join(', ')}`);
  }
  const athena = new AthenaClient(clientConfig(target));
  const { rows } = await runQuery(
    athena,
    model.workGroups[0]?.name ?? 'primary',
    model.glueTables[0]?.databaseName ?? 'default',
    `SELECT DISTINCT tenant, envelope_id FROM ${ARCHIVE_TABLE_NAME} WHERE detail_type = 'InferenceRequested'`,
    [],
  );
  athena.destroy();
  const archived = new Set(rows.map((r) => requestKey(String(r.tenant), String(r.envelope_id))));
  const missing = accepted.filter((key) => !archived.has(key));
  if (missing.length > 0) {
    problems.push(
      `${missing.length} accepted request(s) without an InferenceRequested row in the archive: ${missing.slice(0, 5).join(', ')}`,
    );
  }
  return problems;
}
