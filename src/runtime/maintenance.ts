/**
 * The maintenance leader. One process per database holds a session advisory lock on a
 * dedicated connection; while it holds it, it promotes due jobs, rescues stale and overdue
 * attempts, and rotates and prunes the rings. When that connection dies the lock is gone, this
 * process stops leading at once, and another follower takes over at its next election.
 * @module
 */
import type { ReservedSql } from "postgres";
import { q } from "../schema.ts";
import type { RuntimeCore } from "./core.ts";
import { finalizeAttempts, type FinalizeItem } from "./queries.ts";
import type { RuntimeTimings } from "./types.ts";

/** Session advisory lock key of the leader: ASCII "AWA_MAIN". */
export const LEADER_LOCK_KEY = "4708303813012965710";

/** The default schema uses the documented key; other schemas derive their own. */
const LOCK_KEY_SQL =
  "CASE WHEN $2::text = 'awa' THEN $1::bigint ELSE hashtextextended('awa-leader:' || $2, 0) END";

/** Rescue kinds and the closure outcome each writes. */
export type RescueKind = "heartbeat" | "deadline";

/** Counters of what maintenance did, for stats and tests. */
export interface MaintenanceStats {
  leader: boolean;
  elections: number;
  promoted: number;
  rescued: number;
  rotations: Record<string, number>;
  prunes: Record<string, number>;
}

/** Promote due deferred jobs; loops while full batches come back (bounded per tick). */
export async function promoteDue(core: RuntimeCore, limit = 4096, maxRounds = 32): Promise<number> {
  let total = 0;
  for (let i = 0; i < maxRounds; i++) {
    const [{ n }] = await core.sql.unsafe(q(core.schema, "SELECT awa.promote_due($1) AS n"), [
      limit,
    ]);
    total += n;
    if (n < limit) break;
  }
  return total;
}

/**
 * Close open attempts of one rescue kind (see `awa.rescue_candidates`). A held attempt that never
 * started goes back uncounted; a heartbeat rescue counts the attempt but makes the job due at
 * once, and this step promotes it right away, so the job is available again within the same
 * rescue tick; a deadline rescue retries after the normal backoff. Each may also fail (attempts
 * exhausted) or be cancelled as a unique duplicate.
 */
export async function rescueAttempts(
  core: RuntimeCore,
  kind: RescueKind,
  stalenessS: number,
  dlqDefault: boolean,
  limit = 1000,
): Promise<{ jobId: number; runLease: number; state: string }[]> {
  const [{ c }] = await core.sql.unsafe(
    q(core.schema, "SELECT awa.rescue_candidates($1, $2, $3)::text AS c"),
    [kind, stalenessS, limit],
  );
  const items = JSON.parse(c) as FinalizeItem[];
  if (items.length === 0) return [];
  const rows = await finalizeAttempts(core.sql, core.schema, items, {
    tryLocks: true,
    dlqDefault,
  });
  const now = Date.now();
  if (rows.some((r) => r.run_at !== null && r.run_at.getTime() <= now)) await promoteDue(core);
  return rows.map((r) => ({
    jobId: Number(r.job_id),
    runLease: Number(r.run_lease),
    state: r.state,
  }));
}

/** Rotate one ring; returns the outcome (rotated, skipped_busy, skipped_idle, lost_race). */
export async function rotateRing(core: RuntimeCore, ring: "queue" | "claim"): Promise<string> {
  const [{ r }] = await core.sql.unsafe(q(core.schema, "SELECT awa.rotate_ring($1) AS r"), [ring]);
  return r;
}

/**
 * Prune the oldest slot of one ring by TRUNCATE when its gates pass. While prune waits for its
 * ACCESS EXCLUSIVE lock, every claim (which reads all slots) queues behind it, so each wait is
 * capped at `lockTimeout` and a blocked prune is retried a few times after a short pause
 * rather than waiting longer.
 */
export async function pruneRing(
  core: RuntimeCore,
  ring: "queue" | "claim",
  retries = 3,
  lockTimeout = "2ms",
): Promise<string> {
  let outcome = "blocked";
  for (let i = 0; i <= retries && outcome === "blocked"; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
    try {
      const [{ r }] = await core.sql.unsafe(
        q(core.schema, "SELECT awa.prune_ring($1, $2) AS r"),
        [ring, lockTimeout],
      );
      outcome = r;
    } catch (err) {
      // A lock timeout that surfaces after the function's own handler (it fired as the lock
      // was granted) rolled the prune back: the same as blocked.
      if ((err as { code?: string }).code !== "55P03") throw err;
      outcome = "blocked";
    }
  }
  return outcome;
}

/** True while some session pins the MVCC horizon (old snapshot or idle writer transaction). */
async function horizonPinned(core: RuntimeCore): Promise<boolean> {
  const [{ pinned }] = await core.sql`
    SELECT EXISTS (
      SELECT 1 FROM pg_stat_activity
      WHERE pid <> pg_backend_pid() AND datname = current_database()
        AND ((state LIKE 'idle in transaction%' AND backend_xid IS NOT NULL)
          OR (backend_xmin IS NOT NULL AND xact_start < now() - interval '5 seconds'))
    ) AS pinned`;
  return pinned;
}

/** Leader election and the maintenance loops of one client. */
export class Maintenance {
  #core: RuntimeCore;
  #t: Required<RuntimeTimings>;
  #dlqDefault: boolean;
  #conn: ReservedSql | null = null;
  /** Backend pid of the lock connection. */
  #pid = 0;
  #stopped = false;
  #timers: ReturnType<typeof setTimeout>[] = [];
  #electionTimer: ReturnType<typeof setTimeout> | null = null;
  #busy = new Set<string>();
  #onRescued: (r: { jobId: number; runLease: number; state: string }, kind: RescueKind) => void;
  readonly stats: MaintenanceStats = {
    leader: false,
    elections: 0,
    promoted: 0,
    rescued: 0,
    rotations: {},
    prunes: {},
  };

  constructor(
    core: RuntimeCore,
    timings: Required<RuntimeTimings>,
    dlqDefault: boolean,
    onRescued: (r: { jobId: number; runLease: number; state: string }, kind: RescueKind) => void,
  ) {
    this.#core = core;
    this.#t = timings;
    this.#dlqDefault = dlqDefault;
    this.#onRescued = onRescued;
  }

  get isLeader(): boolean {
    return this.stats.leader;
  }

  start(): void {
    void this.#elect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#electionTimer) clearTimeout(this.#electionTimer);
    await this.#resign();
  }

  #scheduleElection(ms: number): void {
    if (this.#stopped) return;
    this.#electionTimer = setTimeout(() => void this.#elect(), ms);
  }

  async #elect(): Promise<void> {
    if (this.#stopped || this.stats.leader) return;
    let conn: ReservedSql | null = null;
    try {
      conn = await this.#core.sql.reserve();
      const [{ ok, pid }] = await conn.unsafe(
        `SELECT pg_try_advisory_lock(${LOCK_KEY_SQL}) AS ok, pg_backend_pid() AS pid`,
        [LEADER_LOCK_KEY, this.#core.schema],
      );
      this.#pid = pid;
      if (!ok || this.#stopped) {
        if (ok) {
          await conn.unsafe(`SELECT pg_advisory_unlock(${LOCK_KEY_SQL})`, [
            LEADER_LOCK_KEY,
            this.#core.schema,
          ]);
        }
        conn.release();
        this.#scheduleElection(this.#t.electionRetryMs);
        return;
      }
    } catch (err) {
      conn?.release();
      this.#core.emitError(err, "leader election");
      this.#scheduleElection(this.#t.electionRetryMs);
      return;
    }
    this.#conn = conn;
    this.stats.leader = true;
    this.stats.elections++;
    await this.#recordLeader(true);
    this.#loop("ping", this.#t.leaderPingMs, () => this.#ping());
    this.#loop("promote", this.#t.promoteIntervalMs, async () => {
      this.stats.promoted += await promoteDue(this.#core);
    });
    this.#loop("rescue", this.#t.rescueIntervalMs, () => this.#rescue());
    this.#loop("rings", this.#t.rotateIntervalMs, () => this.#rings());
    this.#loop("fold", this.#t.foldIntervalMs, async () => {
      if (!(await horizonPinned(this.#core))) {
        await this.#core.sql.unsafe(q(this.#core.schema, "SELECT awa.fold_and_trim()"));
      }
    });
  }

  /** Run `fn` every `ms` while leading; never overlaps itself. */
  #loop(name: string, ms: number, fn: () => Promise<void>): void {
    const tick = async () => {
      if (!this.stats.leader || this.#stopped) return;
      if (!this.#busy.has(name)) {
        this.#busy.add(name);
        try {
          await fn();
        } catch (err) {
          if (this.stats.leader) this.#core.emitError(err, `maintenance ${name}`);
        } finally {
          this.#busy.delete(name);
        }
      }
      if (this.stats.leader && !this.#stopped) this.#timers.push(setTimeout(tick, ms));
    };
    this.#timers.push(setTimeout(tick, name === "ping" ? ms : 0));
  }

  /**
   * Whether the lock connection's backend still holds an advisory lock (only the leader lock is
   * ever taken on it). Asked through the pool: postgres.js crashes the process with an uncaught
   * TypeError (write on a null socket) when a query is sent on a reserved connection that has
   * closed, so the reserved connection is never used again once it may be dead.
   */
  async #lockHeld(): Promise<boolean> {
    const [{ held }] = await this.#core.sql.unsafe(
      `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = 'advisory'
        AND granted) AS held`,
      [this.#pid],
    );
    return held;
  }

  async #ping(): Promise<void> {
    let held: boolean;
    try {
      held = await this.#lockHeld();
    } catch (err) {
      // Cannot tell; keep leading (maintenance steps are safe to overlap) and ask again.
      this.#core.emitError(err, "leader check");
      return;
    }
    if (!held) {
      // The lock went with the connection: stop leading now, let someone else take over.
      this.#core.emitError(
        new Error(`leader lock connection (backend ${this.#pid}) is gone`),
        "leader connection lost",
      );
      await this.#resign(false);
      // Wait one election interval so a healthy follower can take over rather than a process
      // whose connection just failed.
      this.#scheduleElection(this.#t.electionRetryMs);
    }
  }

  /**
   * Show leadership in `awa.runtime_instances` for operators. Taking it clears every other row's
   * flag, including that of a leader that died without resigning. Best effort: the advisory
   * lock, not this column, is what elects.
   */
  async #recordLeader(leading: boolean): Promise<void> {
    try {
      await this.#core.sql.unsafe(
        q(
          this.#core.schema,
          leading
            ? "UPDATE awa.runtime_instances SET leader = (instance_id = $1) WHERE leader OR instance_id = $1"
            : "UPDATE awa.runtime_instances SET leader = false WHERE instance_id = $1 AND leader",
        ),
        [this.#core.instanceId],
      );
    } catch (err) {
      this.#core.emitError(err, "record leadership");
    }
  }

  /** Stop leading; `alive` false: the lock connection is known dead and is left untouched. */
  async #resign(alive?: boolean): Promise<void> {
    const wasLeader = this.stats.leader;
    this.stats.leader = false;
    for (const t of this.#timers.splice(0)) clearTimeout(t);
    if (wasLeader) await this.#recordLeader(false);
    const conn = this.#conn;
    this.#conn = null;
    if (conn && wasLeader && alive === undefined) {
      alive = await this.#lockHeld().catch(() => false);
    }
    if (conn && wasLeader && alive) {
      try {
        await conn.unsafe(`SELECT pg_advisory_unlock(${LOCK_KEY_SQL})`, [
          LEADER_LOCK_KEY,
          this.#core.schema,
        ]);
      } catch {
        // A dead connection already released the lock.
      }
      conn.release();
    }
  }

  async #rescue(): Promise<void> {
    const staleness = this.#t.heartbeatStalenessMs / 1000;
    for (const kind of ["heartbeat", "deadline"] as const) {
      const rescued = await rescueAttempts(this.#core, kind, staleness, this.#dlqDefault);
      this.stats.rescued += rescued.length;
      for (const r of rescued) this.#onRescued(r, kind);
    }
  }

  async #rings(): Promise<void> {
    for (const ring of ["queue", "claim"] as const) {
      const p = await pruneRing(this.#core, ring);
      this.stats.prunes[p] = (this.stats.prunes[p] ?? 0) + 1;
      const r = await rotateRing(this.#core, ring);
      this.stats.rotations[r] = (this.stats.rotations[r] ?? 0) + 1;
    }
  }
}
