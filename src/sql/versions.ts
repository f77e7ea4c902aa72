/**
 * Ordering of @awa/awa release versions (`MAJOR.MINOR.PATCH`, optionally `-prerelease`), for the
 * minimum runtime version recorded in the database.
 * @module
 */

const VERSION_RE = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$/;

/** Negative when `a` is older than `b`, positive when newer, 0 when equal (build metadata ignored). */
export function compareVersions(a: string, b: string): number {
  const pa = parse(a);
  const pb = parse(b);
  for (let i = 0; i < 3; i++) {
    if (pa.core[i] !== pb.core[i]) return pa.core[i] - pb.core[i];
  }
  // A prerelease comes before its release; prereleases compare identifier by identifier.
  if (pa.pre.length === 0 || pb.pre.length === 0) return pb.pre.length - pa.pre.length;
  for (let i = 0; i < Math.min(pa.pre.length, pb.pre.length); i++) {
    const c = comparePart(pa.pre[i], pb.pre[i]);
    if (c !== 0) return c;
  }
  return pa.pre.length - pb.pre.length;
}

function parse(v: string): { core: number[]; pre: string[] } {
  const m = VERSION_RE.exec(v);
  if (!m) throw new Error(`not a release version: ${JSON.stringify(v)}`);
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split(".") : [] };
}

/** Numeric identifiers compare as numbers and sort before alphanumeric ones. */
function comparePart(a: string, b: string): number {
  const na = /^\d+$/.test(a);
  const nb = /^\d+$/.test(b);
  if (na && nb) return Number(a) - Number(b);
  if (na !== nb) return na ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
