/**
 * Timestamps read for TypeScript travel as epoch milliseconds (float8), which both drivers
 * parse to a number whatever the session's DateStyle and TimeZone.
 * @module
 */

/** The select expression of timestamptz column `col` in epoch ms, named after the column. */
export function epochMs(col: string): string {
  const name = col.slice(col.lastIndexOf(".") + 1);
  return `(extract(epoch FROM ${col}) * 1000)::float8 AS ${name}`;
}
