/**
 * Statements of the maintenance services (src/maintenance/). Each runs one SQL function or one
 * small statement; the loops around them (rounds, retries, the order of rings) are the
 * services' policy, not written here. The services hand in a fenced store, so every statement
 * here runs only while this process holds the leader lock.
 * @module
 */
import type { FinalizeItem } from "./attempts.ts";
import type { Store } from "./store.ts";

/** The two rings maintenance rotates and prunes. */
export type Ring = "queue" | "claim";

/** Attempts a rescue scan looks for: stale heartbeats, or runs past their deadline. */
export type RescueKind = "heartbeat" | "deadline";

/** Promote up to `limit` due deferred jobs (`awa.promote_due`); returns how many. */
export async function promoteDue(store: Store, limit: number): Promise<number> {
  const [{ n }] = await store.run<{ n: number }>(
    "promoteDue",
    "SELECT {{schema}}.promote_due($1) AS n",
    [limit],
  );
  return n;
}

/**
 * Up to `limit` open attempts of one rescue kind (`awa.rescue_candidates`), as finalize items
 * with their rescue outcome; `stalenessS` is the heartbeat staleness in seconds.
 */
export async function rescueCandidates(
  store: Store,
  kind: RescueKind,
  stalenessS: number,
  limit: number,
): Promise<FinalizeItem[]> {
  const [{ c }] = await store.run<{ c: string }>(
    "rescueCandidates",
    "SELECT {{schema}}.rescue_candidates($1, $2, $3)::text AS c",
    [kind, stalenessS, limit],
  );
  return JSON.parse(c) as FinalizeItem[];
}

/** Rotate one ring (`awa.rotate_ring`): rotated, skipped_busy, skipped_idle or lost_race. */
export async function rotateRing(store: Store, ring: Ring): Promise<string> {
  const [{ r }] = await store.run<{ r: string }>(
    "rotateRing",
    "SELECT {{schema}}.rotate_ring($1) AS r",
    [ring],
  );
  return r;
}

/**
 * Prune the oldest slot of one ring (`awa.prune_ring`), waiting at most `lockTimeout` (a
 * Postgres interval) for its ACCESS EXCLUSIVE lock; returns the outcome (`blocked` when the
 * wait timed out inside the function).
 */
export async function pruneRing(store: Store, ring: Ring, lockTimeout: string): Promise<string> {
  const [{ r }] = await store.run<{ r: string }>(
    "pruneRing",
    "SELECT {{schema}}.prune_ring($1, $2) AS r",
    [ring, lockTimeout],
  );
  return r;
}

/** Fold terminal counts into the rollup and trim the ledger (`awa.fold_and_trim`). */
export async function foldAndTrim(store: Store): Promise<void> {
  await store.run("foldAndTrim", "SELECT {{schema}}.fold_and_trim()");
}

/**
 * True while some other session of this database pins the MVCC horizon: a writer idle in its
 * transaction, or a snapshot older than 5 s. Folding then would only leave dead rows behind.
 */
export async function horizonPinned(store: Store): Promise<boolean> {
  const [{ pinned }] = await store.run<{ pinned: boolean }>(
    "horizonPinned",
    `SELECT EXISTS (
      SELECT 1 FROM pg_stat_activity
      WHERE pid <> pg_backend_pid() AND datname = current_database()
        AND ((state LIKE 'idle in transaction%' AND backend_xid IS NOT NULL)
          OR (backend_xmin IS NOT NULL AND xact_start < now() - interval '5 seconds'))
    ) AS pinned`,
  );
  return pinned;
}

/**
 * Delete the rows of runtimes unseen for `stalenessS` seconds and for three of their own
 * heartbeat intervals, never the row of `instanceId`; returns how many went.
 */
export async function sweepRuntimes(
  store: Store,
  instanceId: string,
  stalenessS: number,
): Promise<number> {
  const rows = await store.run(
    "sweepRuntimes",
    `DELETE FROM {{schema}}.runtime_instances
    WHERE instance_id <> $1::uuid
      AND last_seen_at < clock_timestamp()
        - make_interval(secs => greatest($2::float8, 3 * snapshot_interval_ms / 1000.0))
    RETURNING instance_id`,
    [instanceId, stalenessS],
  );
  return rows.length;
}

/** Flag `instanceId` as the leader in `awa.runtime_instances`, clearing every other flag. */
export async function markLeader(store: Store, instanceId: string): Promise<void> {
  await store.run(
    "markLeader",
    `UPDATE {{schema}}.runtime_instances SET leader = (instance_id = $1)
    WHERE leader OR instance_id = $1`,
    [instanceId],
  );
}

/** Clear the leader flag of `instanceId`, if set. */
export async function unmarkLeader(store: Store, instanceId: string): Promise<void> {
  await store.run(
    "unmarkLeader",
    "UPDATE {{schema}}.runtime_instances SET leader = false WHERE instance_id = $1 AND leader",
    [instanceId],
  );
}
