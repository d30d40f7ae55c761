import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDateShaped, parseDay } from '../../cli/dates';
import { escapeControls, formatRows } from '../../cli/format';
import { isNodeVersionSupportWarning } from '../../cli/quiet-warnings';
import { PROJECT_ROOT } from '../../lib/app';

/** The real CLI in a child process, with warnings on and no AWS settings (nothing is reached). */
function cli(
  args: string[],
  nodeArgs: string[] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const home = mkdtempSync(join(tmpdir(), 'inferbus-hygiene-'));
  return new Promise((done) => {
    execFile(
      process.execPath,
      [...nodeArgs, join(PROJECT_ROOT, 'bin', 'inferbus.mjs'), ...args],
      { cwd: home, env: { PATH: process.env.PATH, HOME: home, AWS_EC2_METADATA_DISABLED: 'true' } },
      (error, stdout, stderr) =>
        done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('dates on the command line', () => {
  it('accepts real calendar days and timestamps', () => {
    expect(parseDay('--since', '2028-02-29')).toBe('2028-02-29');
    expect(checkDateShaped('--param', '2026-11-28T09:30:00Z')).toBe('2026-11-28T09:30:00Z');
    expect(checkDateShaped('--param', '2026-11-28 09:30:00')).toBe('2026-11-28 09:30:00');
    expect(checkDateShaped('--param', 'acme')).toBe('acme');
    expect(checkDateShaped('--param', '42')).toBe('42');
  });

  it('refuses impossible days, naming the option and the accepted forms', () => {
    expect(() => parseDay('--since', '2026-13-45')).toThrow(
      '--since "2026-13-45": there is no month 13; expected a calendar day yyyy-MM-dd (UTC), e.g. 2026-11-28',
    );
    expect(() => parseDay('--param from', 'notadate')).toThrow(/^--param from "notadate": not yyyy-MM-dd;/);
    expect(() => parseDay('--since', '2026-02-29')).toThrow(/2026-02 has no day 29/);
    expect(() => parseDay('--since', '2026-11-28T00:00:00Z')).toThrow(/not yyyy-MM-dd/);
    expect(() => checkDateShaped('--param', '2026-02-30T10:00:00Z')).toThrow(
      /2026-02 has no day 30; expected a calendar day yyyy-MM-dd or an ISO 8601 timestamp/,
    );
    expect(() => checkDateShaped('--param', '2026-11-28T25:00:00Z')).toThrow(/not a valid time of day/);
    expect(() => checkDateShaped('--param', '2026-1-5')).toThrow(/not yyyy-MM-dd/);
  });

  it.each([
    [['trace', 'e1', '--since', '2026-13-45'], /--since "2026-13-45": there is no month 13/],
    [
      ['query', '--named', 'hourly-tier-volume', '--param', 'from=notadate', '--param', 'to=2026-11-30'],
      /--param from "notadate": not yyyy-MM-dd; expected a calendar day yyyy-MM-dd/,
    ],
    [
      ['query', 'SELECT 1 WHERE ? > 0', '--param', '2026-02-30'],
      /--param "2026-02-30": 2026-02 has no day 30/,
    ],
    [['replay', '--param', 'day=2026-04-31'], /--param day "2026-04-31": 2026-04 has no day 31/],
  ])('inferbus %j exits 2 (usage) before reaching anything', async (args, message) => {
    const run = await cli(args);
    expect(run.stderr).toMatch(message);
    expect(run.code).toBe(2);
  });
});

describe('control characters at the terminal', () => {
  const hostile = 'ham\u202e maps\u2066 \u001b[2Jcleared\rover';

  it('escapes bidi and other controls visibly', () => {
    expect(escapeControls(hostile)).toBe('ham\\u202e maps\\u2066 \\u001b[2Jcleared\\u000dover');
    expect(escapeControls('tab\tand\nnewline stay, ü and 日本 too')).toBe(
      'tab\tand\nnewline stay, ü and 日本 too',
    );
    expect(escapeControls(escapeControls(hostile))).toBe(escapeControls(hostile));
  });

  it('escapes table cells and headers, and leaves CSV and JSON data as it is', () => {
    const rows = [{ label: hostile, 'n\u202e': '1' }];
    const table = formatRows(['label', 'n\u202e'], rows, 'table').join('\n');
    for (const raw of ['\u202e', '\u2066', '\u001b', '\r']) expect(table).not.toContain(raw);
    expect(table).toContain('ham\\u202e maps\\u2066 \\u001b[2Jcleared over');
    expect(table.split('\n')[0]).toContain('n\\u202e');
    expect(formatRows(['label'], rows, 'csv')[1]).toContain('\u202e');
    expect(JSON.parse(formatRows(['label'], rows, 'json')[0] as string).label).toBe(hostile);
  });

  it('escapes user text echoed in an error', async () => {
    const run = await cli(['events', 'sample', '--tenant', 'ac\u202eme']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('ac\\u202eme');
    expect(run.stderr).not.toContain('\u202e');
  });
});

describe('warnings', () => {
  it('recognises the SDK’s NodeVersionSupportWarning however it is emitted', () => {
    const sdkText =
      'NodeVersionSupportWarning: The AWS SDK for JavaScript (v3)\nversions published after ...';
    expect(isNodeVersionSupportWarning(sdkText)).toBe(true);
    expect(isNodeVersionSupportWarning('x', 'NodeVersionSupportWarning')).toBe(true);
    expect(isNodeVersionSupportWarning('x', { type: 'NodeVersionSupportWarning' })).toBe(true);
    expect(isNodeVersionSupportWarning('x', { code: 'NodeVersionSupportWarning' })).toBe(true);
    expect(isNodeVersionSupportWarning('Buffer() is deprecated', 'DeprecationWarning')).toBe(false);
    expect(isNodeVersionSupportWarning(new Error('something else'))).toBe(false);
  });

  it('keeps stderr free of it when a command builds an SDK client; other warnings still print', async () => {
    // No region: the command builds an EventBridge client (the SDK warns then), then stops with exit 3.
    const run = await cli(
      ['trace', 'e1'],
      ['--import', join(PROJECT_ROOT, 'test/cli/fixtures/canary-warning.mjs')],
    );
    expect(run.stderr).toMatch(/no AWS region: pass --region/);
    expect(run.code).toBe(3);
    expect(run.stderr).not.toMatch(/NodeVersionSupportWarning|will require node >=/);
    expect(run.stderr).toMatch(/CanaryWarning: other warnings still print/);
  });
});
