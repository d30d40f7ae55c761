import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SalvageOptions } from '../../cli/commands/local-salvage.js';
import { ExitCode } from '../../cli/errors.js';
import type { CliIO } from '../../cli/io.js';
import type { SalvagedFile } from './report.js';
import { salvageStateDir } from './salvage.js';

/**
 * `inferbus local salvage`: copies every intact record of a state folder into a new one and lists
 * what could not be read. Exit code 0 when everything was whole, 1 when something was lost.
 */
export async function runSalvageCommand(options: SalvageOptions, io: CliIO): Promise<ExitCode> {
  const from = resolve(options.stateDir);
  const to = resolve(options.out ?? `${options.stateDir.replace(/\/+$/, '')}-salvaged`);
  if (!existsSync(from)) {
    io.err(`error: the state folder ${from} does not exist`);
    return ExitCode.Usage;
  }
  if (!['sqs', 'firehose', 'dynamodb'].some((name) => existsSync(join(from, name)))) {
    io.err(
      `error: ${from} holds no local runtime state (no sqs/, firehose/ or dynamodb/ folder): is it the right --state-dir?`,
    );
    return ExitCode.Usage;
  }
  if (from === to || to.startsWith(`${from}/`)) {
    io.err(`error: --out ${to} must lie outside the state folder ${from}, which salvage never writes to`);
    return ExitCode.Usage;
  }
  if (existsSync(to) && readdirSync(to).length > 0) {
    io.err(`error: ${to} already holds files: give --out an empty or new folder`);
    return ExitCode.Usage;
  }
  const report = salvageStateDir(from, to);
  for (const line of describe(report)) io.out(line);
  const lost = report.some((f) => f.lost.length > 0 || f.skipped !== undefined);
  io.err(
    lost
      ? `salvaged into ${to}, with losses (above). Review them, then start from it: inferbus local --state-dir ${to}`
      : `salvaged into ${to}: everything was intact. Start from it: inferbus local --state-dir ${to}`,
  );
  return lost ? ExitCode.Failed : ExitCode.Ok;
}

function describe(report: readonly SalvagedFile[]): string[] {
  const lines: string[] = [];
  for (const file of report) {
    const kept = file.kept === undefined ? 'copied' : `${file.kept} records kept`;
    lines.push(
      `${file.path}: ${file.skipped ?? kept}${file.lost.length > 0 ? `, ${file.lost.length} unreadable range(s):` : ''}`,
    );
    for (const range of file.lost) {
      lines.push(`  byte ${range.offset}, ${range.bytes} bytes: ${range.reason}`);
    }
  }
  return lines;
}
