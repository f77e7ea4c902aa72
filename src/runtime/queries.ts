/**
 * Left only for `maintenance.ts` until its services move to `src/maintenance/` and call
 * `src/storage/attempts.ts` with a store of their own; then this file goes. It keeps the
 * maintenance statements fenced: the store is made from the (fenced) `sql` it is handed.
 * @module
 */
import type { Sql } from "postgres";
import { toExecutor } from "../db/executor.ts";
import * as attempts from "../storage/attempts.ts";
import { storeOf } from "../storage/store.ts";

export type { FinalizeItem } from "../storage/attempts.ts";

/** `finalizeAttempts` of `src/storage/attempts.ts` through a postgres.js handle. */
export function finalizeAttempts(
  sql: Sql,
  schema: string,
  items: attempts.FinalizeItem[],
  opts: { tryLocks?: boolean; dlqDefault?: boolean } = {},
): Promise<attempts.FinalizedRow[]> {
  return attempts.finalizeAttempts(storeOf(toExecutor(sql), schema), items, opts);
}
