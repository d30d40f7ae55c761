import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { eventBridgeEvents } from '../../functions/core/billing-units';
import { envelopeSchema } from '../../functions/core/envelope';
import {
  DetailType,
  EVENT_SOURCE_ROOT,
  HANDLER_DETAIL_TYPES,
  RESULT_SOURCE,
  tenantSource,
} from '../../functions/core/events';
import { createPackCodec } from '../../functions/core/packing/codec';
import {
  type PackCodecName,
  type ProducerPackPolicy,
  resolvePackPolicy,
} from '../../functions/core/packing/policy';
import { entrySize, MAX_ENTRY_BYTES, type PutEventsEntry } from '../../functions/core/put-events';
import { type ClaimStore, claimCheckIfNeeded, S3ClaimStore } from '../../functions/producer/claims';
import { envelopeOfEntry, type PackedUnit, packRequests } from '../../functions/producer/packer';
import { rateLimiter, type SendReport, sendEntries } from '../../functions/producer/sender';
import type { AwsContext } from '../context';
import { CliError, ExitCode } from '../errors';
import { onInterrupt } from '../interrupt';
import type { CliIO } from '../io';
import { Progress } from '../progress';
import { readStageDeployment } from '../stage-template';
import { checkTenants, type RefusedEntry } from '../tenant-check';

export interface PutEventsOptions {
  readonly rate?: number;
  readonly concurrency: number;
  readonly maxAttempts: number;
  readonly detailType: string;
  readonly bus?: string;
  readonly claimBucket?: string;
  readonly failedFile?: string;
  readonly skipInvalid?: boolean;
  readonly dryRun?: boolean;
  readonly json?: boolean;
  /** Send InferenceRequested entries even for tenants the stage has no rule for. */
  readonly allowUnknownTenants?: boolean;
  /** Folder holding the stage's synthesized template. @default ./cdk.out, then the project's */
  readonly cdkOut?: string;
  /** `false` (`--no-pack`): every request its own entry. @default true */
  readonly pack?: boolean;
  /** Most requests per packed entry (`--pack-max`). */
  readonly packMax?: number;
  /** Most bytes per packed entry (`--pack-bytes`). */
  readonly packBytes?: number;
  readonly codec?: PackCodecName;
}

/** The packing policy the flags ask for, or undefined for `--no-pack`; bad flags are usage errors. */
export function packPolicyOf(options: PutEventsOptions): ProducerPackPolicy | undefined {
  if (options.pack === false) return undefined;
  try {
    return resolvePackPolicy(
      { maxItems: options.packMax, maxEntryBytes: options.packBytes, codec: options.codec, waitMs: 0 },
      { maxItems: '--pack-max', maxEntryBytes: '--pack-bytes', codec: '--codec' },
    );
  } catch (error) {
    throw new CliError((error as Error).message, ExitCode.Usage);
  }
}

/** The entries to send: packs and lone single events, or one entry per request without packing. */
async function packEntries(
  entries: readonly PutEventsEntry[],
  policy: ProducerPackPolicy | undefined,
): Promise<PackedUnit[]> {
  if (!policy) return entries.map((entry, i) => ({ entry, members: [i] }));
  const encoder = policy.codec === 'zstd' ? await createPackCodec() : undefined;
  return packRequests(
    entries.map((entry) => ({ entry, envelope: envelopeOfEntry(entry) })),
    policy,
    encoder,
  );
}

const rawEntrySchema = z.object({
  Source: z.string().min(1).max(256),
  DetailType: z.string().min(1).max(128),
  Detail: z.union([z.string(), z.record(z.string(), z.unknown()).transform((d) => JSON.stringify(d))]),
  Resources: z.array(z.string()).optional(),
  Time: z.union([z.iso.datetime({ offset: true }), z.number()]).optional(),
  EventBusName: z.string().min(1).optional(),
});

export interface ParsedLine {
  readonly line: number;
  readonly entry: PutEventsEntry;
}
export interface BadLine {
  readonly line: number;
  readonly reason: string;
}

const issues = (error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }) =>
  error.issues
    .map((i) => `${i.path.length > 0 ? i.path.map(String).join('.') : '(line)'}: ${i.message}`)
    .join('; ');

/**
 * One line of input: an inferbus envelope (sent as `detail`, with source `inferbus.<tenant>`) or
 * a raw PutEvents entry (`Source`, `DetailType`, `Detail`, ...), whose detail is checked against
 * the envelope schema when it is an inferbus tenant event.
 */
export function parseLine(value: unknown, detailType: string, busName: string): PutEventsEntry | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object';
  const handlersOnly = handlersOnlyReason(value as Record<string, unknown>, detailType);
  if (handlersOnly) return handlersOnly;
  const record = value as Record<string, unknown>;
  if ('Source' in record || 'DetailType' in record || 'Detail' in record) {
    const raw = rawEntrySchema.safeParse(record);
    if (!raw.success) return `not a PutEvents entry: ${issues(raw.error)}`;
    const { Source, DetailType: type, Detail, Resources, Time, EventBusName } = raw.data;
    if (Source.startsWith(`${EVENT_SOURCE_ROOT}.`) && Source !== RESULT_SOURCE) {
      let detail: unknown;
      try {
        detail = JSON.parse(Detail);
      } catch (error) {
        return `Detail is not valid JSON: ${(error as Error).message}`;
      }
      const envelope = envelopeSchema.safeParse(detail);
      if (!envelope.success) return `Detail is not an inferbus envelope: ${issues(envelope.error)}`;
      if (Source !== tenantSource(envelope.data.tenant)) {
        return `Source ${Source} does not match detail.tenant ${envelope.data.tenant} (expected ${tenantSource(envelope.data.tenant)})`;
      }
    }
    return {
      Source,
      DetailType: type,
      Detail,
      Resources,
      Time: Time === undefined ? undefined : new Date(Time),
      EventBusName: EventBusName ?? busName,
    };
  }
  const envelope = envelopeSchema.safeParse(record);
  if (!envelope.success) return `not an inferbus envelope: ${issues(envelope.error)}`;
  return {
    EventBusName: busName,
    Source: tenantSource(envelope.data.tenant),
    DetailType: detailType,
    Detail: JSON.stringify(envelope.data),
  };
}

/** Results are the handlers' to publish: the bus policy denies them to producers, so say so before sending. */
function handlersOnlyReason(record: Record<string, unknown>, detailType: string): string | undefined {
  const raw = 'Source' in record || 'DetailType' in record || 'Detail' in record;
  const type = raw ? record.DetailType : detailType;
  if (
    record.Source === RESULT_SOURCE ||
    (typeof type === 'string' && HANDLER_DETAIL_TYPES.includes(type as never))
  ) {
    return `${record.Source === RESULT_SOURCE ? `Source ${RESULT_SOURCE}` : `DetailType ${type}`} is published by the inferbus handlers only (the bus policy denies it to producers); put ${DetailType.InferenceRequested} events under inferbus.<tenant>`;
  }
  return undefined;
}

/** NDJSON (one envelope or entry per line), or a JSON array as `aws events put-events --entries` takes. */
export function parseInput(
  text: string,
  detailType: string,
  busName: string,
): { good: ParsedLine[]; bad: BadLine[] } {
  const good: ParsedLine[] = [];
  const bad: BadLine[] = [];
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    let array: unknown;
    try {
      array = JSON.parse(trimmed);
    } catch {
      array = undefined;
    }
    if (Array.isArray(array)) {
      array.forEach((value, i) => {
        const result = parseLine(value, detailType, busName);
        if (typeof result === 'string') bad.push({ line: i + 1, reason: `entry ${i + 1}: ${result}` });
        else good.push({ line: i + 1, entry: result });
      });
      return { good, bad };
    }
  }
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line.length === 0) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      bad.push({ line: i + 1, reason: `not valid JSON: ${(error as Error).message}` });
      return;
    }
    const result = parseLine(value, detailType, busName);
    if (typeof result === 'string') bad.push({ line: i + 1, reason: result });
    else good.push({ line: i + 1, entry: result });
  });
  return { good, bad };
}

async function readInput(file: string | undefined): Promise<{ text: string; name: string }> {
  if (file === undefined || file === '-') {
    if (process.stdin.isTTY) {
      throw new CliError(
        'no input: pass a file, or pipe NDJSON into `inferbus put-events -`',
        ExitCode.Usage,
      );
    }
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return { text: Buffer.concat(chunks).toString('utf8'), name: 'stdin' };
  }
  try {
    return { text: readFileSync(file, 'utf8'), name: file };
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`, ExitCode.Usage);
  }
}

export async function putEventsCommand(
  file: string | undefined,
  options: PutEventsOptions,
  ctx: AwsContext,
  io: CliIO,
): Promise<ExitCode> {
  const busName = options.bus ?? ctx.names.busName;
  const policy = packPolicyOf(options);
  const { text, name } = await readInput(file);
  const { good: parsed, bad } = parseInput(text, options.detailType, busName);
  for (const b of bad.slice(0, 50)) io.err(`${name}:${b.line}: ${b.reason}`);
  if (bad.length > 50) io.err(`... and ${bad.length - 50} more bad lines`);
  if (bad.length > 0 && !options.skipInvalid && !options.dryRun) {
    throw new CliError(
      `${bad.length} of ${parsed.length + bad.length} lines are invalid; nothing was sent. Fix them, or pass --skip-invalid to send the ${parsed.length} valid ones`,
      ExitCode.Usage,
    );
  }
  const { routable: good, refused } = checkStageTenants(parsed, options, ctx, io);
  for (const r of refused.slice(0, 20)) io.err(`${name}:${r.line}: ${r.reason}`);
  if (refused.length > 20) io.err(`... and ${refused.length - 20} more entries for tenants with no rule`);
  if (options.dryRun) {
    io.out(
      `dry run: ${good.length} valid entries, ${bad.length} invalid lines` +
        `${refused.length > 0 ? `, ${refused.length} for tenants with no rule (would not be sent)` : ''} in ${name}; nothing sent`,
    );
    return bad.length > 0 ? ExitCode.Usage : refused.length > 0 ? ExitCode.Failed : ExitCode.Ok;
  }
  if (good.length === 0 && refused.length === 0) {
    io.out(`no entries in ${name}; nothing sent`);
    return bad.length > 0 ? ExitCode.Failed : ExitCode.Ok;
  }
  if (good.length > 0) await ctx.preflight();

  // Claim checks: texts over the entry limit go to S3 first; the event carries the pointer.
  let store: ClaimStore | undefined;
  const claimStore = async () => {
    store ??= new S3ClaimStore(ctx.s3(), options.claimBucket ?? (await ctx.claimBucket()));
    return store;
  };
  const entries: PutEventsEntry[] = [];
  const lineOf: number[] = [];
  let claimed = 0;
  const unsendable: { line: number; entry: PutEventsEntry; reason: string }[] = [];
  for (const { line, entry } of good) {
    if (entrySize(entry) > MAX_ENTRY_BYTES) {
      try {
        const result = await claimCheckIfNeeded(entry, claimStore);
        if (result.claimed) claimed++;
        if (entrySize(result.entry) > MAX_ENTRY_BYTES) {
          unsendable.push({
            line,
            entry,
            reason: `entry is ${entrySize(entry)} bytes (limit ${MAX_ENTRY_BYTES}) and has no payload.text to claim-check`,
          });
          continue;
        }
        entries.push(result.entry);
      } catch (error) {
        throw ctx.explain(error);
      }
    } else entries.push(entry);
    lineOf.push(line);
  }
  for (const u of unsendable) io.err(`${name}:${u.line}: ${u.reason}`);
  const units = await packEntries(entries, policy);
  const unitEntries = units.map((u) => u.entry);
  const requestsIn = (unitIndexes: readonly number[]) =>
    unitIndexes.reduce((sum, u) => sum + (units[u] as PackedUnit).members.length, 0);

  const started = Date.now();
  const progress = new Progress(io, entries.length, 'put-events');
  let settled = 0;
  let failedSoFar = 0;
  let retriedEntries = 0;
  const progressNote = () => (failedSoFar > 0 ? `(${failedSoFar} failed)` : '');
  const interrupt = onInterrupt(() =>
    io.err(
      `${io.interactive ? '\n' : ''}put-events: interrupted; sending no more, waiting for the requests in flight to answer ` +
        '(Ctrl-C again quits at once, and then what those requests did is unknown)',
    ),
  );
  let report: SendReport;
  try {
    report = await sendEntries(ctx.events(), unitEntries, {
      busName,
      weight: (u) => (units[u] as PackedUnit).members.length,
      concurrency: options.concurrency,
      maxAttempts: options.maxAttempts,
      signal: interrupt.signal,
      beforeRequest: options.rate
        ? rateLimiter(options.rate, undefined, undefined, interrupt.signal)
        : undefined,
      onSettled: (ok, failed) => {
        settled += ok + failed;
        failedSoFar += failed;
        progress.update(settled, progressNote());
      },
      onRetry: (failures) => {
        retriedEntries += requestsIn(failures.map((f) => f.index));
      },
    });
  } finally {
    interrupt.dispose();
  }
  const interrupted = interrupt.signal.aborted;
  // Forced, so the last line says exactly what had settled when sending stopped.
  progress.update(settled, `${progressNote()}${interrupted ? ' (interrupted)' : ''}`.trim(), true);
  progress.done();
  const seconds = (Date.now() - started) / 1000;

  // A pack's failure is each of its requests': the file holds requests, one a line, as read.
  const requestsOf = (unit: number, error: string) =>
    (units[unit] as PackedUnit).members.map((i) => ({
      line: lineOf[i] as number,
      entry: entries[i] as PutEventsEntry,
      error,
    }));
  const failed = [
    ...refused.map((r) => ({ line: r.line, entry: r.entry, error: r.reason })),
    ...unsendable.map((u) => ({ line: u.line, entry: u.entry, error: u.reason })),
    ...report.failed.flatMap((f) => requestsOf(f.index, f.error)),
  ];
  const unsent = report.unsent.flatMap((u) => requestsOf(u.index, u.error));
  const saved = [...failed, ...unsent].sort((a, b) => a.line - b.line);
  let failedFile: string | undefined;
  if (saved.length > 0) {
    failedFile =
      options.failedFile ?? `inferbus-failed-${new Date().toISOString().replace(/[:.]/g, '-')}.ndjson`;
    writeFileSync(
      failedFile,
      saved
        .map((f) =>
          JSON.stringify({ ...f.entry, Time: f.entry.Time?.toISOString(), _line: f.line, _error: f.error }),
        )
        .join('\n')
        .concat('\n'),
    );
    const shown = failed.slice(refused.length); // the refused were reported before sending
    for (const f of shown.slice(0, 20)) io.err(`${name}:${f.line}: failed: ${f.error}`);
    if (shown.length > 20) io.err(`... and ${shown.length - 20} more failed entries`);
  }
  // Requests in at least one PutEvents request: everything but those never sent.
  const sent = entries.length - requestsIn(report.unsent.filter((u) => u.attempts === 0).map((u) => u.index));
  const failedOrUnsent = new Set([...report.failed, ...report.unsent].map((f) => f.index));
  const acceptedUnits = units.filter((_, u) => !failedOrUnsent.has(u));
  const accepted = acceptedUnits.reduce((sum, unit) => sum + unit.members.length, 0);
  const billedUnits = acceptedUnits.reduce((sum, unit) => sum + eventBridgeEvents(entrySize(unit.entry)), 0);
  const packs = acceptedUnits.filter((unit) => unit.members.length > 1);
  const summary = {
    input: name,
    bus: busName,
    entries: parsed.length,
    invalidLines: bad.length,
    sent,
    accepted,
    packing: policy
      ? { maxRequests: policy.maxItems, maxEntryBytes: policy.maxEntryBytes, codec: policy.codec }
      : null,
    busEntries: report.accepted,
    packs: packs.length,
    packedRequests: packs.reduce((sum, unit) => sum + unit.members.length, 0),
    billedUnits,
    failed: failed.length,
    refusedUnknownTenants: refused.length,
    unsent: unsent.length,
    interrupted,
    failedFile: failedFile ?? null,
    claimChecks: claimed,
    requests: report.requests,
    retriedEntries,
    seconds: Number(seconds.toFixed(3)),
    eventsPerSecond: Number((accepted / Math.max(seconds, 0.001)).toFixed(1)),
  };
  if (options.json) io.out(JSON.stringify(summary));
  else {
    const resend = failedFile ? ` (saved to ${failedFile}; resend: inferbus put-events ${failedFile})` : '';
    io.out(
      `put-events: ${parsed.length} requests from ${name} to bus ${busName}${interrupted ? ', interrupted' : ''}`,
    );
    io.out(`  sent           ${sent}`);
    io.out(`  accepted       ${summary.accepted}`);
    io.out(
      `  on the bus     ${report.accepted} entries, ${billedUnits} billed 64 KB units` +
        (policy
          ? ` (${summary.packedRequests} requests in ${packs.length} packs, ${policy.codec}; ${(accepted / Math.max(1, billedUnits)).toFixed(1)} requests per unit)`
          : ' (not packed: --no-pack)'),
    );
    io.out(`  failed         ${summary.failed}${unsent.length === 0 ? resend : ''}`);
    if (refused.length > 0) {
      io.out(
        `  no tenant rule ${refused.length} (not sent; counted in failed; --allow-unknown-tenants sends them)`,
      );
    }
    if (interrupted) io.out(`  unsent         ${unsent.length}${resend}`);
    if (bad.length > 0) io.out(`  invalid lines  ${bad.length} (skipped)`);
    if (claimed > 0)
      io.out(`  claim checks   ${claimed} (payload text stored in S3, the event carries the pointer)`);
    io.out(`  PutEvents      ${report.requests} calls (${retriedEntries} requests retried)`);
    io.out(`  time           ${seconds.toFixed(2)} s, ${summary.eventsPerSecond} requests/s`);
  }
  if (interrupted) return ExitCode.Interrupted;
  return failed.length > 0 || bad.length > 0 ? ExitCode.Failed : ExitCode.Ok;
}

/**
 * Refuses InferenceRequested entries that no tenant rule of the stage routes, using the stage's
 * synthesized template; says so when there is no template to check against.
 */
function checkStageTenants(
  parsed: readonly ParsedLine[],
  options: PutEventsOptions,
  ctx: AwsContext,
  io: CliIO,
): { routable: ParsedLine[]; refused: RefusedEntry[] } {
  if (options.allowUnknownTenants) return { routable: [...parsed], refused: [] };
  const deployment = readStageDeployment(ctx.names.stackName, options.cdkOut);
  if (!deployment) {
    io.err(
      `put-events: tenants not checked: no synthesized template ${ctx.names.stackName}.template.json in ` +
        `${options.cdkOut ?? './cdk.out or the project'} (run \`npx cdk synth -c stage=${ctx.flags.stage}\` or pass --cdk-out). ` +
        'Requests for tenants with no rule will wait in the unrouted queue (inferbus dlq show UnroutedRequests)',
    );
    return { routable: [...parsed], refused: [] };
  }
  return checkTenants(parsed, deployment.routedTenants, ctx.names.busName);
}

export const DEFAULT_DETAIL_TYPE = DetailType.InferenceRequested;
