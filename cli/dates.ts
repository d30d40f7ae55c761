import { CliError, ExitCode } from './errors';

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
/** Looks like a day or an ISO timestamp, whether or not it is a real one. */
const DATE_SHAPED = /^\d{4}-\d{1,2}-\d{1,2}(?:[T ].*)?$/;

const ACCEPTED_DAY = 'expected a calendar day yyyy-MM-dd (UTC), e.g. 2026-11-28';

/**
 * A day option's value (`--since`, a named query's `from`/`to`, replay's `day`), checked against
 * the calendar: 2026-13-45 and 2026-02-30 are refused, not passed on to match no partition.
 * `what` names the option in the error, e.g. `--since` or `--param from`.
 */
export function parseDay(what: string, value: string): string {
  const problem = dayProblem(value);
  if (problem) {
    throw new CliError(`${what} ${JSON.stringify(value)}: ${problem}; ${ACCEPTED_DAY}`, ExitCode.Usage);
  }
  return value;
}

/**
 * An ad-hoc query's `--param` value: its type is unknown, but one that looks like a date and is
 * not a real one (2026-13-45, 2026-02-30T10:00:00Z) is a typo that would silently match nothing.
 */
export function checkDateShaped(what: string, value: string): string {
  if (!DATE_SHAPED.test(value)) return value;
  const day = value.slice(0, 10);
  const problem = DAY.test(day) ? dayProblem(day) : 'not yyyy-MM-dd';
  const time = value.slice(10);
  if (!problem && (time === '' || !Number.isNaN(Date.parse(`${day}T${time.slice(1)}`)))) return value;
  throw new CliError(
    `${what} ${JSON.stringify(value)}: ${problem ?? 'not a valid time of day'}; expected a calendar day ` +
      'yyyy-MM-dd or an ISO 8601 timestamp yyyy-MM-ddTHH:mm:ss[.sss][Z|±HH:mm], e.g. 2026-11-28T09:30:00Z',
    ExitCode.Usage,
  );
}

function dayProblem(value: string): string | undefined {
  const match = DAY.exec(value);
  if (!match) return 'not yyyy-MM-dd';
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (month < 1 || month > 12) return `there is no month ${month}`;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysInMonth) return `${match[1]}-${match[2]} has no day ${day}`;
  return undefined;
}
