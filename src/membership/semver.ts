// Semantic versions as etcd 3.4 reads and compares them (github.com/coreos/go-semver): the cluster
// version in the v2 store, the server versions members report on /version.

export interface SemVer {
  major: bigint;
  minor: bigint;
  patch: bigint;
  preRelease: string;
  metadata: string;
}

export class SemVerError extends Error {}

const IDENTIFIER = /^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$/;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Go's strconv.ParseInt(s, 10, 64). */
function parseInt64(s: string, whole: string): bigint {
  if (!/^[+-]?\d+$/.test(s))
    throw new SemVerError(`strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`);
  const v = BigInt(s);
  if (v < INT64_MIN || v > INT64_MAX)
    throw new SemVerError(`strconv.ParseInt: parsing ${JSON.stringify(s)}: value out of range (${whole})`);
  return v;
}

function splitOff(input: string, delim: string): [rest: string, value: string] {
  const i = input.indexOf(delim);
  return i < 0 ? [input, ""] : [input.slice(0, i), input.slice(i + 1)];
}

/** semver.NewVersion: "major.minor.patch[-pre][+meta]". */
export function parseSemVer(text: string): SemVer {
  const [withoutMeta, metadata] = splitOff(text, "+");
  const [version, preRelease] = splitOff(withoutMeta, "-");
  const dotParts = version.split(".");
  if (dotParts.length < 3) throw new SemVerError(`${version} is not in dotted-tri format`);
  // SplitN(…, 3): the third part keeps any further dots
  const parts = [dotParts[0], dotParts[1], dotParts.slice(2).join(".")];
  if (preRelease !== "" && !IDENTIFIER.test(preRelease))
    throw new SemVerError(`failed to validate pre-release: ${preRelease} is not a valid semver identifier`);
  if (metadata !== "" && !IDENTIFIER.test(metadata))
    throw new SemVerError(`failed to validate metadata: ${metadata} is not a valid semver identifier`);
  const [major, minor, patch] = parts.map((p) => parseInt64(p, text));
  return { major, minor, patch, preRelease, metadata };
}

export function formatSemVer(v: SemVer): string {
  return `${v.major}.${v.minor}.${v.patch}${v.preRelease ? `-${v.preRelease}` : ""}${v.metadata ? `+${v.metadata}` : ""}`;
}

const cmp = (a: bigint | string, b: bigint | string) => (a < b ? -1 : a > b ? 1 : 0);

function preReleaseCompare(a: string, b: string): number {
  if (a === "" && b !== "") return 1;
  if (b === "" && a !== "") return -1;
  const as = a.split(".");
  const bs = b.split(".");
  for (let i = 0; ; i++) {
    if (i >= as.length) return i >= bs.length ? 0 : -1;
    if (i >= bs.length) return 1;
    // strconv.Atoi: numeric identifiers sort below alphanumeric ones
    const an = /^[+-]?\d+$/.test(as[i]);
    const bn = /^[+-]?\d+$/.test(bs[i]);
    if (an && !bn) return -1;
    if (!an && bn) return 1;
    if (an && bn) {
      const c = cmp(BigInt(as[i]), BigInt(bs[i]));
      if (c !== 0) return c;
    }
    const c = cmp(as[i], bs[i]);
    if (c !== 0) return c;
  }
}

/** -1, 0 or 1 as go-semver's Compare (metadata is ignored). */
export function compareSemVer(a: SemVer, b: SemVer): number {
  return (
    cmp(a.major, b.major) ||
    cmp(a.minor, b.minor) ||
    cmp(a.patch, b.patch) ||
    preReleaseCompare(a.preRelease, b.preRelease)
  );
}

export const semVerLess = (a: SemVer, b: SemVer) => compareSemVer(a, b) < 0;

/** major.minor.0 of a version (what the cluster version is made of). */
export function majorMinor(v: SemVer): SemVer {
  return { major: v.major, minor: v.minor, patch: 0n, preRelease: "", metadata: "" };
}
