/**
 * Statements of the TTL cache (src/cache/) on `cache_entries` (migration 015). Every read
 * treats a row whose `expires_at` has passed as absent; the clock is the server's
 * (`clock_timestamp()`, so a long transaction does not see stale rows as fresh).
 * @module
 */
import type { Store } from "./store.ts";

/**
 * Advisory lock key of one cache key: a hash of schema, namespace and key. `/` cannot occur in
 * a namespace, so two different (namespace, key) pairs never hash the same text.
 */
const KEY_LOCK = "hashtextextended('awa-cache:{{schema}}:' || $1::text || '/' || $2::text, 0)";

/** The JSON text of the live entry of (`namespace`, `key`), or null when absent or expired. */
export async function readCacheEntry(
  store: Store,
  namespace: string,
  key: string,
): Promise<string | null> {
  const rows = await store.run<{ v: string }>(
    "readCacheEntry",
    `SELECT value::text AS v FROM {{schema}}.cache_entries
      WHERE namespace = $1 AND key = $2 AND expires_at > clock_timestamp()`,
    [namespace, key],
  );
  return rows.length === 0 ? null : rows[0].v;
}

/** Write (or overwrite) an entry holding the JSON text `value` for `ttlMs` from now. */
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
     ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    [namespace, key, value, ttlMs],
  );
}

/** Delete the entry; true when a live (unexpired) one was there. */
export async function deleteCacheEntry(
  store: Store,
  namespace: string,
  key: string,
): Promise<boolean> {
  const rows = await store.run<{ live: boolean }>(
    "deleteCacheEntry",
    `DELETE FROM {{schema}}.cache_entries WHERE namespace = $1 AND key = $2
     RETURNING expires_at > clock_timestamp() AS live`,
    [namespace, key],
  );
  return rows.length > 0 && rows[0].live;
}

/** Try the session-level lock of a cache key (held until {@link unlockCacheKey} or session end). */
export async function tryLockCacheKey(
  store: Store,
  namespace: string,
  key: string,
): Promise<boolean> {
  const [{ ok }] = await store.run<{ ok: boolean }>(
    "tryLockCacheKey",
    `SELECT pg_try_advisory_lock(${KEY_LOCK}) AS ok`,
    [namespace, key],
  );
  return ok;
}

/** Release the session-level lock of a cache key taken by {@link tryLockCacheKey}. */
export async function unlockCacheKey(store: Store, namespace: string, key: string): Promise<void> {
  await store.run("unlockCacheKey", `SELECT pg_advisory_unlock(${KEY_LOCK})`, [namespace, key]);
}

/** Try the transaction-level lock of a cache key (held until the transaction ends). */
export async function tryLockCacheKeyXact(
  store: Store,
  namespace: string,
  key: string,
): Promise<boolean> {
  const [{ ok }] = await store.run<{ ok: boolean }>(
    "tryLockCacheKeyXact",
    `SELECT pg_try_advisory_xact_lock(${KEY_LOCK}) AS ok`,
    [namespace, key],
  );
  return ok;
}

/**
 * Delete up to `limit` expired entries, oldest expiry first, skipping rows another session
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
