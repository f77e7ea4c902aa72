/**
 * The maintenance leader. One process per database holds the leader lock (a session advisory
 * lock) on a connection of its own; while it holds it, it promotes due jobs, rescues stale and
 * overdue attempts, rotates and prunes the rings, and removes runtimes that stopped reporting.
 * Every maintenance statement is fenced (see leader_fence.ts): it runs only while this
 * process's lock backend still holds the lock, so a deposed leader never acts beside its
 * successor, even before it notices that it lost the lock.
 * @module
 */
import type { Sql } from "postgres";
import { q } from "../schema.ts";
import type { RuntimeCore } from "./core.ts";
import {
  fencedSql,
  holdsLeaderLock,
  LeadershipLost,
  passFence,
  type Term,
  tryLeaderLock,
  unlockLeaderLock,
} from "./leader_fence.ts";
import { finalizeAttempts, type FinalizeItem } from "./queries.ts";
import type { RuntimeTimings } from "./types.ts";

export { LEADER_LOCK_KEY } from "./leader_fence.ts";

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
  /** Rows of dead runtimes removed from `awa.runtime_instances`. */
  runtimesRemoved: number;
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

/**
 * Remove the rows of runtimes that stopped reporting: unseen (no heartbeat) for `stalenessMs`
 * and for three of their own heartbeat intervals, so a runtime configured with a slower
 * heartbeat than this one is never taken for dead. This client's own row always stays.
 */
export async function sweepRuntimes(core: RuntimeCore, stalenessMs: number): Promise<number> {
  const rows = await core.sql.unsafe(
    q(
      core.schema,
      `DELETE FROM awa.runtime_instances
      WHERE instance_id <> $1::uuid
        AND last_seen_at < clock_timestamp()
          - make_interval(secs => greatest($2::float8, 3 * snapshot_interval_ms / 1000.0))
      RETURNING instance_id`,
    ),
    [core.instanceId, stalenessMs / 1000],
  );
  return rows.length;
}

/** Report the 1st, 2nd, 3rd, then every 2^k-th of a run of failures, so an outage is not a flood. */
function worthReporting(failures: number): boolean {
  return failures <= 3 || (failures & (failures - 1)) === 0;
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
  /** The client's runtime state, with every statement fenced to the current term. */
  #core: RuntimeCore;
  /** The same without fencing: elections, leadership checks, bookkeeping. */
  #base: RuntimeCore;
  #t: Required<RuntimeTimings>;
  #dlqDefault: boolean;
  #lockSql: Sql;
  #term: Term | null = null;
  #stopped = false;
  #timers: ReturnType<typeof setTimeout>[] = [];
  #electionTimer: ReturnType<typeof setTimeout> | null = null;
  #electionFailures = 0;
  /** When the last leadership check that succeeded was sent (ms since the epoch). */
  #confirmedAt = 0;
  #pingFailures = 0;
  #busy = new Set<string>();
  #onRescued: (r: { jobId: number; runLease: number; state: string }, kind: RescueKind) => void;
  readonly stats: MaintenanceStats = {
    leader: false,
    elections: 0,
    promoted: 0,
    rescued: 0,
    rotations: {},
    prunes: {},
    runtimesRemoved: 0,
  };

  /**
   * @param lockSql a pool of one connection used for nothing but the leader lock. Not a
   *   connection reserved from `core.sql`: postgres.js crashes the process (uncaught TypeError,
   *   write on a null socket) when a query is sent on a reserved connection that has closed,
   *   and a `reserve()` that fails to connect leaks a pool slot. A pool of its own reconnects
   *   by itself, and a statement on a new session is harmless: it holds no lock.
   */
  constructor(
    core: RuntimeCore,
    timings: Required<RuntimeTimings>,
    dlqDefault: boolean,
    onRescued: (r: { jobId: number; runLease: number; state: string }, kind: RescueKind) => void,
    lockSql: Sql,
  ) {
    this.#base = core;
    this.#core = fencedCore(core, fencedSql(core.sql, () => this.#term));
    this.#t = timings;
    this.#dlqDefault = dlqDefault;
    this.#onRescued = onRescued;
    this.#lockSql = lockSql;
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
    if (this.#electionTimer) clearTimeout(this.#electionTimer);
    this.#electionTimer = setTimeout(() => void this.#elect(), ms);
  }

  async #elect(): Promise<void> {
    if (this.#stopped || this.stats.leader) return;
    let term: Term | null = null;
    try {
      term = await tryLeaderLock(this.#lockSql, this.#base.schema);
      if (!term) {
        this.#electionFailures = 0;
        this.#scheduleElection(this.#t.electionRetryMs);
        return;
      }
      // Wait out any statement an earlier leader still has in flight.
      if (!(await passFence(this.#base.sql, term, () => this.#stopped)) || this.#stopped) {
        await this.#unlock();
        return;
      }
    } catch (err) {
      if (term) await this.#unlock();
      // Shutting down closes the lock session under a pending attempt: nothing to report.
      if (!this.#stopped) this.#electionFailed(err);
      return;
    }
    this.#electionFailures = 0;
    this.#confirmedAt = Date.now();
    this.#term = term;
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
    this.#loop("runtimes", this.#t.runtimeSweepIntervalMs, async () => {
      this.stats.runtimesRemoved += await sweepRuntimes(this.#core, this.#t.runtimeStalenessMs);
    });
  }

  /**
   * An election could not be held (typically: the database is unreachable). Retry sooner
   * than a normal election first, backing off to `electionRetryMs`, and report only the
   * first few of a run of failures.
   */
  #electionFailed(err: unknown): void {
    const n = ++this.#electionFailures;
    if (worthReporting(n)) this.#base.emitError(err, "leader election");
    const retry = this.#t.electionRetryMs;
    const ms = Math.min(retry, Math.max(50, retry / 16) * 2 ** (n - 1));
    this.#scheduleElection(ms * (0.75 + Math.random() / 2));
  }

  /**
   * Run `fn` every `ms` while leading; never overlaps itself. After a failure the next run
   * waits longer, up to 2 s (or `ms` if longer), so an outage costs neither a busy loop nor a
   * flood of error events.
   */
  #loop(name: string, ms: number, fn: () => Promise<void>): void {
    let failures = 0;
    const tick = async () => {
      if (!this.stats.leader || this.#stopped) return;
      const term = this.#term;
      if (!this.#busy.has(name)) {
        this.#busy.add(name);
        const startedAt = Date.now();
        try {
          await fn();
          if (this.#term === term) this.#confirm(startedAt);
          failures = 0;
        } catch (err) {
          if (err instanceof LeadershipLost) {
            if (this.#term === term) await this.#deposed();
          } else if (this.stats.leader && worthReporting(++failures)) {
            this.#base.emitError(err, `maintenance ${name}`);
          }
        } finally {
          this.#busy.delete(name);
        }
      }
      if (this.stats.leader && !this.#stopped && this.#term === term) {
        const wait = failures === 0 ? ms : Math.min(ms * 2 ** failures, Math.max(ms, 2000));
        this.#timers.push(setTimeout(tick, wait));
      }
    };
    this.#timers.push(setTimeout(tick, name === "ping" ? ms : 0));
  }

  /** Give the leader lock back; on a lock session that died, there is nothing to give. */
  async #unlock(): Promise<void> {
    try {
      await unlockLeaderLock(this.#lockSql);
    } catch {
      // The session is gone, and the lock with it.
    }
  }

  /** Leadership counts as confirmed at `at` (ms since the epoch), if later than before. */
  #confirm(at: number): void {
    this.#confirmedAt = Math.max(this.#confirmedAt, at);
  }

  /**
   * Confirm that the lock is still ours. Each check and each maintenance step that succeeds
   * (every step proves leadership) confirms it as of when it began. Once leadership has gone
   * unconfirmed for 3 ping intervals, at least 1 s (the database is unreachable, or its
   * connections hang), this process stops calling itself the leader. That changes no outcome,
   * since every statement is fenced, but keeps `isLeader` from claiming what cannot be shown.
   */
  async #ping(): Promise<void> {
    const term = this.#term;
    if (!term) return;
    const ms = this.#t.leaderPingMs;
    const sentAt = Date.now();
    const check = holdsLeaderLock(this.#base.sql, term);
    // A late answer still counts.
    check.then((held) => held && this.#term === term && this.#confirm(sentAt), () => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), ms));
    try {
      const held = await Promise.race([check, timeout]);
      if (held === false) throw new LeadershipLost(term);
      if (held === true) {
        this.#pingFailures = 0;
        return;
      }
    } catch (err) {
      if (err instanceof LeadershipLost) throw err;
      if (worthReporting(++this.#pingFailures)) this.#base.emitError(err, "leader check");
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() - this.#confirmedAt > Math.max(3 * ms, 1000)) throw new LeadershipLost(term);
  }

  /**
   * The lock went with its connection, or cannot be confirmed: stop leading now and let an
   * election decide. The election is scheduled before resigning completes, which may wait on
   * an unreachable database; the lock session runs the unlock before any later attempt.
   */
  async #deposed(): Promise<void> {
    const term = this.#term;
    this.#base.emitError(
      new Error(`leader lock connection (backend ${term?.pid}) is gone or unconfirmed`),
      "leader connection lost",
    );
    const resigned = this.#resign();
    // Wait one election interval so a healthy follower can take over rather than a process
    // whose connection just failed.
    this.#scheduleElection(this.#t.electionRetryMs);
    await resigned;
  }

  /**
   * Show leadership in `awa.runtime_instances` for operators. Taking it clears every other row's
   * flag, including that of a leader that died without resigning. Best effort: the advisory
   * lock, not this column, is what elects.
   */
  async #recordLeader(leading: boolean): Promise<void> {
    // Taking the flag is fenced like any leader statement; dropping one's own is not.
    const core = leading ? this.#core : this.#base;
    try {
      await core.sql.unsafe(
        q(
          core.schema,
          leading
            ? "UPDATE awa.runtime_instances SET leader = (instance_id = $1) WHERE leader OR instance_id = $1"
            : "UPDATE awa.runtime_instances SET leader = false WHERE instance_id = $1 AND leader",
        ),
        [core.instanceId],
      );
    } catch (err) {
      if (!(err instanceof LeadershipLost)) this.#base.emitError(err, "record leadership");
    }
  }

  /** Stop leading and give the lock back. */
  async #resign(): Promise<void> {
    const wasLeader = this.stats.leader;
    const term = this.#term;
    this.stats.leader = false;
    this.#term = null;
    for (const t of this.#timers.splice(0)) clearTimeout(t);
    if (!wasLeader || !term) return;
    const unlocked = this.#unlock();
    await this.#recordLeader(false);
    await unlocked;
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

/**
 * `core` with its `sql` replaced by `sql`: the step functions above take a core and issue
 * their statements through `core.sql`, so handing them this view fences all of them.
 */
function fencedCore(core: RuntimeCore, sql: Sql): RuntimeCore {
  return new Proxy(core, {
    get(target, prop) {
      if (prop === "sql") return sql;
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}
