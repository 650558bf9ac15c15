/**
 * The shape of a cron expression the evidence schedule takes, as one regular expression: the daemon tests it
 * before node-cron's own validation, and the published JSON Schema carries the same source as its pattern, so an
 * editor refuses what the daemon refuses. What a pattern cannot say (a day that no listed month has, such as
 * `0 0 30 2 *`) is left to node-cron alone.
 */

/** Any letter case, spelled out: JSON Schema patterns take no flags. */
function anyCase(word: string): string {
  return [...word].map((c) => (/[a-z]/i.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c)).join('');
}

/** A whole number from lo to hi, leading zeros allowed (node-cron reads them with parseInt). */
function intIn(lo: number, hi: number): string {
  const values = Array.from({ length: hi - lo + 1 }, (_, i) => String(lo + i)).reverse();
  return `0*(?:${values.join('|')})`;
}

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

function names(full: readonly string[]): string {
  const words = new Set<string>([...full, ...full.map((w) => w.slice(0, 3))]);
  return [...words].sort((a, b) => b.length - a.length).map(anyCase).join('|');
}

const STEP = '0*[1-9]\\d*';

/** One comma-separated field: `*`, `*\/n`, a value, a range `a-b`, a stepped range `a-b/n`, and the field's extras. */
function field(value: string, extras: readonly string[] = []): string {
  const item = ['\\*', `\\*/${STEP}`, `(?:${value})-(?:${value})(?:/${STEP})?`, `(?:${value})`, ...extras].join('|');
  return `(?:${item})(?:,(?:${item}))*`;
}

const SECOND = field(intIn(0, 59));
const MINUTE = SECOND;
const HOUR = field(intIn(0, 23));
const DAY_OF_MONTH = `(?:\\?|${field(intIn(1, 31), [anyCase('l'), `${anyCase('l')}-${intIn(1, 30)}`, `(?:${anyCase('l')}|\\d{1,2})${anyCase('w')}`])})`;
const MONTH = field(`${intIn(1, 12)}|${names(MONTHS)}`);
const DAY_OF_WEEK = `(?:\\?|${field(`${intIn(0, 7)}|${names(DAYS)}`, ['[0-7]#[1-5]', `[0-7]${anyCase('l')}`])})`;

const NICKNAMES = ['yearly', 'annually', 'monthly', 'weekly', 'daily', 'midnight', 'hourly'];

const FIVE = [MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK].join(' +');

/** The source of the pattern: `off`, a nickname such as `@daily`, or five fields (six with seconds first). */
export const CRON_SOURCE = `^(?:off|\\s*@(?:${NICKNAMES.map(anyCase).join('|')})\\s*| *(?:${SECOND} +)?${FIVE} *)$`;

export const CRON_RE = new RegExp(CRON_SOURCE);
