/**
 * ISO-8601 dates as Celery writes them (`datetime.isoformat()` of an aware UTC datetime) and reads
 * them (`datetime.fromisoformat`, with naive values taken as UTC).
 */

/**
 * `2026-11-21T19:14:23.367000+00:00`: microsecond field (JS has milliseconds, so the last three
 * digits are zero) and a `+00:00` offset. Like Python, the fraction is left out when it is zero.
 */
let lastNowMs = Number.NaN;
let lastNowText = '';

/**
 * `formatIsoUtc(new Date())`, kept for the rest of the millisecond: a worker stores many results a
 * millisecond (every one has a `date_done`), and formatting a date is a dozen small strings.
 */
export function nowIsoUtc(): string {
  const ms = Date.now();
  if (ms !== lastNowMs) {
    lastNowText = formatIsoUtc(new Date(ms));
    lastNowMs = ms;
  }
  return lastNowText;
}

export function formatIsoUtc(date: Date): string {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new RangeError('cannot format an invalid Date');
  const year = date.getUTCFullYear();
  if (year < 1 || year > 9999) throw new RangeError(`year ${year} is outside Python's datetime range`);
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  const base =
    `${pad(year, 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  const millis = date.getUTCMilliseconds();
  return `${base}${millis === 0 ? '' : `.${pad(millis, 3)}000`}+00:00`;
}

const DATE_PART = String.raw`(\d{4})-(\d{2})-(\d{2})`;
const TIME_PART = String.raw`(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?)?`;
const OFFSET_PART = String.raw`(Z|z|[+-]\d{2}(?::?\d{2}(?::?\d{2}(?:\.\d{1,6})?)?)?)?`;
const ISO_DATE = new RegExp(`^${DATE_PART}${TIME_PART}${OFFSET_PART}$`);

/**
 * Parse what Python's `datetime.isoformat()` produces (and what `fromisoformat` accepts in the
 * common cases): date, optional time with fraction, optional `Z` or `±HH[:MM[:SS[.ffffff]]]` offset.
 * A value without offset is taken as UTC (Celery's `utc=True` default). Throws `RangeError`.
 */
export function parseIsoDate(text: string): Date {
  const m = ISO_DATE.exec(text.trim());
  if (!m) throw new RangeError(`not an ISO-8601 date: ${JSON.stringify(text)}`);
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // Milliseconds are all a Date holds; extra fraction digits are dropped, not rounded, so a
  // parsed eta is never later than the one written.
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 || year < 1) {
    throw new RangeError(`date field out of range: ${JSON.stringify(text)}`);
  }
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, millis);
  if (utc.getUTCDate() !== day) throw new RangeError(`day out of range for month: ${JSON.stringify(text)}`);
  return new Date(utc.getTime() - offsetMillis(m[8], text));
}

function offsetMillis(offset: string | undefined, text: string): number {
  if (offset === undefined || offset === 'Z' || offset === 'z') return 0;
  const sign = offset.startsWith('-') ? -1 : 1;
  const digits = offset.slice(1).replace(/:/g, '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2, 4) || '0');
  const seconds = Number(digits.slice(4) || '0');
  if (hours > 23 || minutes > 59 || seconds >= 60) {
    throw new RangeError(`UTC offset out of range: ${JSON.stringify(text)}`);
  }
  return sign * ((hours * 60 + minutes) * 60 + seconds) * 1000;
}
