/**
 * The cross-process half of `getOrSet`: one advisory lock per cache key, so that of all the
 * processes that miss a key at once, one loads it while the others wait and then read its
 * value. The holder reads the key again after taking the lock: a process that took it just
 * after another released it finds the value already there and does not load it again
 * (correctness/specs/AwaCacheStampede.tla models this; without the re-read the loader runs
 * twice).
 * @module
 */
import type { Executor } from "../db/executor.ts";
import { tryLockCacheKey, tryLockCacheKeyXact, unlockCacheKey } from "../storage/cache.ts";
import { type Store, storeOf } from "../storage/store.ts";

/** What {@link withKeyLock} did: ran `fn` under the lock, or found the lock held elsewhere. */
export type Locked<T> = { acquired: true; value: T } | { acquired: false };

/**
 * Take the key's lock without waiting and run `fn` under it. On a pool the lock is a session
 * lock on a connection reserved for the call and released after `fn` (its writes committed
 * by then); on a transaction or a single connection it is a transaction lock, held until that
 * transaction ends, and `fn` runs inside it.
 */
export async function withKeyLock<T>(
  ex: Executor,
  schema: string,
  namespace: string,
  key: string,
  fn: (store: Store) => Promise<T>,
): Promise<Locked<T>> {
  if (ex.reserve === undefined) {
    return await ex.atomic(async (tx) => {
      const store = storeOf(tx, schema);
      if (!await tryLockCacheKeyXact(store, namespace, key)) return { acquired: false };
      return { acquired: true, value: await fn(store) };
    });
  }
  const session = await ex.reserve();
  const lockStore = storeOf(session, schema);
  let held = false;
  try {
    held = await tryLockCacheKey(lockStore, namespace, key);
    if (!held) return { acquired: false };
    return { acquired: true, value: await fn(storeOf(ex, schema)) };
  } finally {
    try {
      if (held) await unlockCacheKey(lockStore, namespace, key);
    } catch {
      // The session is gone, and its lock with it.
    }
    session.release();
  }
}
