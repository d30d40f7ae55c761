import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { envelopeSchema } from '../../functions/core/envelope';
import { DetailType, EVENT_SOURCE_ROOT, RESULT_SOURCE, tenantSource } from '../../functions/core/events';
import { entrySize, MAX_ENTRY_BYTES, type PutEventsEntry } from '../../functions/core/put-events';
import { type ClaimStore, claimCheckIfNeeded, S3ClaimStore } from '../../functions/producer/claims';
import { rateLimiter, sendEntries } from '../../functions/producer/sender';
import type { AwsContext } from '../context';
import { CliError, ExitCode } from '../errors';
import type { CliIO } from '../io';
import { Progress } from '../progress';

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
  const { text, name } = await readInput(file);
  const { good, bad } = parseInput(text, options.detailType, busName);
  for (const b of bad.slice(0, 50)) io.err(`${name}:${b.line}: ${b.reason}`);
  if (bad.length > 50) io.err(`... and ${bad.length - 50} more bad lines`);
  if (bad.length > 0 && !options.skipInvalid && !options.dryRun) {
    throw new CliError(
      `${bad.length} of ${good.length + bad.length} lines are invalid; nothing was sent. Fix them, or pass --skip-invalid to send the ${good.length} valid ones`,
      ExitCode.Usage,
    );
  }
  if (options.dryRun) {
    io.out(`dry run: ${good.length} valid entries, ${bad.length} invalid lines in ${name}; nothing sent`);
    return bad.length > 0 ? ExitCode.Usage : ExitCode.Ok;
  }
  if (good.length === 0) {
    io.out(`no entries in ${name}; nothing sent`);
    return bad.length > 0 ? ExitCode.Failed : ExitCode.Ok;
  }
  await ctx.preflight();

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

  const started = Date.now();
  const progress = new Progress(io, entries.length, 'put-events');
  let settled = 0;
  let failedSoFar = 0;
  let retriedEntries = 0;
  const report = await sendEntries(ctx.events(), entries, {
    busName,
    concurrency: options.concurrency,
    maxAttempts: options.maxAttempts,
    beforeRequest: options.rate ? rateLimiter(options.rate) : undefined,
    onSettled: (ok, failed) => {
      settled += ok + failed;
      failedSoFar += failed;
      progress.update(settled, failedSoFar > 0 ? `(${failedSoFar} failed)` : '');
    },
    onRetry: (failures) => {
      retriedEntries += failures.length;
    },
  });
  progress.update(settled, failedSoFar > 0 ? `(${failedSoFar} failed)` : '', true);
  progress.done();
  const seconds = (Date.now() - started) / 1000;

  const failed = [
    ...unsendable.map((u) => ({ line: u.line, entry: u.entry, error: u.reason })),
    ...report.failed.map((f) => ({
      line: lineOf[f.index] as number,
      entry: entries[f.index] as PutEventsEntry,
      error: f.error,
    })),
  ];
  let failedFile: string | undefined;
  if (failed.length > 0) {
    failedFile =
      options.failedFile ?? `inferbus-failed-${new Date().toISOString().replace(/[:.]/g, '-')}.ndjson`;
    writeFileSync(
      failedFile,
      failed
        .map((f) =>
          JSON.stringify({ ...f.entry, Time: f.entry.Time?.toISOString(), _line: f.line, _error: f.error }),
        )
        .join('\n')
        .concat('\n'),
    );
    for (const f of failed.slice(0, 20)) io.err(`${name}:${f.line}: failed: ${f.error}`);
    if (failed.length > 20) io.err(`... and ${failed.length - 20} more failed entries`);
  }
  const summary = {
    input: name,
    bus: busName,
    entries: good.length,
    invalidLines: bad.length,
    accepted: report.accepted,
    failed: failed.length,
    failedFile: failedFile ?? null,
    claimChecks: claimed,
    requests: report.requests,
    retriedEntries,
    seconds: Number(seconds.toFixed(3)),
    eventsPerSecond: Number((report.accepted / Math.max(seconds, 0.001)).toFixed(1)),
  };
  if (options.json) io.out(JSON.stringify(summary));
  else {
    io.out(`put-events: ${good.length} entries from ${name} to bus ${busName}`);
    io.out(`  accepted       ${summary.accepted}`);
    io.out(
      `  failed         ${summary.failed}${failedFile ? ` (saved to ${failedFile}; resend: inferbus put-events ${failedFile})` : ''}`,
    );
    if (bad.length > 0) io.out(`  invalid lines  ${bad.length} (skipped)`);
    if (claimed > 0)
      io.out(`  claim checks   ${claimed} (payload text stored in S3, the event carries the pointer)`);
    io.out(`  requests       ${report.requests} (${retriedEntries} entries retried)`);
    io.out(`  time           ${seconds.toFixed(2)} s, ${summary.eventsPerSecond} events/s`);
  }
  return failed.length > 0 || bad.length > 0 ? ExitCode.Failed : ExitCode.Ok;
}

export const DEFAULT_DETAIL_TYPE = DetailType.InferenceRequested;
