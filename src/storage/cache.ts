/**
 * Statements of the TTL cache (src/cache/) on `cache_entries` (migration 015). Every read
 * treats a row whose `expires_at` has passed, or that is a load lease, as absent; the clock is
 * the server's (`clock_timestamp()`, so a long transaction does not see stale rows as fresh).
 * @module
 */
import type { Store } from "./store.ts";

/** The JSON text of the live entry of (`namespace`, `key`), or null when absent or expired. */
export async function readCacheEntry(
  store: Store,
  namespace: string,
  key: string,
): Promise<string | null> {
  const rows = await store.run<{ v: string }>(
    "readCacheEntry",
    `SELECT value::text AS v FROM {{schema}}.cache_entries
      WHERE namespace = $1 AND key = $2 AND value IS NOT NULL
        AND expires_at > clock_timestamp()`,
    [namespace, key],
  );
  return rows.length === 0 ? null : rows[0].v;
}

/**
 * Write (or overwrite) an entry holding the JSON text `value` for `ttlMs` from now; a load
 * lease on the key goes with it.
 */
export async function writeCacheEntry(
  store: Store,
  namespace: string,
  key: string,
  value: string,
  ttlMs: number,
): Promise<void> {
  await store.run(
    "writeCacheEntry",
    `INSERT INTO {{schema}}.cache_entries AS c (namespace, key, value, expires_at)
     VALUES ($1, $2, $3::text::jsonb, clock_timestamp() + $4::bigint * interval '1 millisecond')
     ON CONFLICT (namespace, key) DO UPDATE
       SET value = excluded.value, lease = NULL, expires_at = excluded.expires_at`,
    [namespace, key, value, ttlMs],
  );
}

/** Delete the entry (or lease); true when a live (unexpired) value was there. */
export async function deleteCacheEntry(
  store: Store,
  namespace: string,
  key: string,
): Promise<boolean> {
  const rows = await store.run<{ live: boolean }>(
    "deleteCacheEntry",
    `DELETE FROM {{schema}}.cache_entries WHERE namespace = $1 AND key = $2
     RETURNING value IS NOT NULL AND expires_at > clock_timestamp() AS live`,
    [namespace, key],
  );
  return rows.length > 0 && rows[0].live;
}

/**
 * Take the load lease of a key for `leaseMs` when the key holds nothing live: no row, or only
 * an expired value or lease. True when taken. The check and the take are one statement, so of
 * all the processes that missed the key, exactly one takes it; a process that missed before
 * another stored the value finds that value here and takes nothing.
 */
export async function takeCacheLease(
  store: Store,
  namespace: string,
  key: string,
  lease: string,
  leaseMs: number,
): Promise<boolean> {
  const rows = await store.run<{ took: number }>(
    "takeCacheLease",
    `INSERT INTO {{schema}}.cache_entries AS c (namespace, key, value, lease, expires_at)
     VALUES ($1, $2, NULL, $3::uuid, clock_timestamp() + $4::bigint * interval '1 millisecond')
     ON CONFLICT (namespace, key) DO UPDATE
       SET value = NULL, lease = excluded.lease, expires_at = excluded.expires_at
       WHERE c.expires_at <= clock_timestamp()
     RETURNING 1 AS took`,
    [namespace, key, lease, leaseMs],
  );
  return rows.length > 0;
}

/** Give up a load lease (the loader failed): the next caller to miss the key may load it. */
export async function dropCacheLease(
  store: Store,
  namespace: string,
  key: string,
  lease: string,
): Promise<void> {
  await store.run(
    "dropCacheLease",
    "DELETE FROM {{schema}}.cache_entries WHERE namespace = $1 AND key = $2 AND lease = $3::uuid",
    [namespace, key, lease],
  );
}

/**
 * Delete up to `limit` expired entries (values and leases), oldest expiry first, skipping rows another session
 * holds; returns how many went.
 */
export async function sweepExpiredCache(store: Store, limit: number): Promise<number> {
  const [{ n }] = await store.run<{ n: number }>(
    "sweepExpiredCache",
    `WITH doomed AS (
       SELECT namespace, key FROM {{schema}}.cache_entries
        WHERE expires_at <= clock_timestamp()
        ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
     ), gone AS (
       DELETE FROM {{schema}}.cache_entries c USING doomed d
        WHERE c.namespace = d.namespace AND c.key = d.key
       RETURNING 1
     )
     SELECT count(*)::int AS n FROM gone`,
    [limit],
  );
  return n;
}
