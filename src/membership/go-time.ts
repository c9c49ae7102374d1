// Go's time.Time as JSON (RFC 3339 with up to nanoseconds), held as nanoseconds since the Unix epoch
// in a bigint so that Go's zero time (year 1) and every int64 nanosecond time fit.

const NS_PER_SECOND = 1_000_000_000n;
const SECONDS_PER_DAY = 86_400n;

/** Days since 1970-01-01 of a proleptic Gregorian date. */
function daysFromCivil(year: bigint, month: bigint, day: bigint): bigint {
  const y = month <= 2n ? year - 1n : year;
  const era = (y >= 0n ? y : y - 399n) / 400n;
  const yoe = y - era * 400n;
  const mp = (month + 9n) % 12n;
  const doy = (153n * mp + 2n) / 5n + day - 1n;
  const doe = yoe * 365n + yoe / 4n - yoe / 100n + doy;
  return era * 146_097n + doe - 719_468n;
}

function civilFromDays(days: bigint): [bigint, bigint, bigint] {
  const z = days + 719_468n;
  const era = (z >= 0n ? z : z - 146_096n) / 146_097n;
  const doe = z - era * 146_097n;
  const yoe = (doe - doe / 1460n + doe / 36_524n - doe / 146_096n) / 365n;
  const doy = doe - (365n * yoe + yoe / 4n - yoe / 100n);
  const mp = (5n * doy + 2n) / 153n;
  const day = doy - (153n * mp + 2n) / 5n + 1n;
  const month = mp < 10n ? mp + 3n : mp - 9n;
  return [yoe + era * 400n + (month <= 2n ? 1n : 0n), month, day];
}

const floorDiv = (a: bigint, b: bigint): bigint => {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
};

/** Go's zero time.Time (0001-01-01T00:00:00Z): a v2 node that never expires. */
export const GO_ZERO_TIME_NS = daysFromCivil(1n, 1n, 1n) * SECONDS_PER_DAY * NS_PER_SECOND;

export class GoTimeError extends Error {}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Parses what Go's Time.MarshalJSON writes (any zone offset); throws GoTimeError otherwise. */
export function parseGoTime(text: string): bigint {
  const m = RFC3339.exec(text);
  if (!m) throw new GoTimeError(`not an RFC 3339 time: ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const month = BigInt(mo);
  const day = BigInt(d);
  if (
    month < 1n ||
    month > 12n ||
    day < 1n ||
    day > 31n ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(s) > 59
  )
    throw new GoTimeError(`time out of range: ${JSON.stringify(text)}`);
  let seconds =
    daysFromCivil(BigInt(y), month, day) * SECONDS_PER_DAY + BigInt(h) * 3600n + BigInt(mi) * 60n + BigInt(s);
  if (zone !== "Z") {
    const offset = BigInt(zone.slice(1, 3)) * 3600n + BigInt(zone.slice(4, 6)) * 60n;
    seconds -= zone[0] === "+" ? offset : -offset;
  }
  const nanos = frac ? BigInt(frac.padEnd(9, "0")) : 0n;
  return seconds * NS_PER_SECOND + nanos;
}

const pad = (v: bigint, width: number) => v.toString().padStart(width, "0");

/** Go's Time.MarshalJSON text of a UTC time (RFC 3339, fractional seconds without trailing zeros). */
export function formatGoTime(ns: bigint): string {
  const seconds = floorDiv(ns, NS_PER_SECOND);
  const nanos = ns - seconds * NS_PER_SECOND;
  const days = floorDiv(seconds, SECONDS_PER_DAY);
  const inDay = seconds - days * SECONDS_PER_DAY;
  const [year, month, day] = civilFromDays(days);
  if (year < 0n || year > 9999n) throw new GoTimeError(`year ${year} outside of range [0,9999]`);
  const frac = nanos === 0n ? "" : `.${pad(nanos, 9).replace(/0+$/, "")}`;
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(inDay / 3600n, 2)}:${pad((inDay / 60n) % 60n, 2)}:${pad(inDay % 60n, 2)}${frac}Z`;
}
