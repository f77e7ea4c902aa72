/**
 * Maintenance leadership. One process per database holds the leader lock (a session advisory
 * lock) on a connection of its own; while it holds it, the services run (see service.ts).
 * Every maintenance statement is fenced (see fence.ts): it runs only while this process's lock
 * backend still holds the lock, so a deposed leader never acts beside its successor, even
 * before it notices that it lost the lock.
 * @module
 */
import type { Sql } from "postgres";
import { toExecutor } from "../db/executor.ts";
import { checkOptionalObject, HOUR_MS, intIn } from "../runtime/options.ts";
import { openSession } from "../runtime/pool.ts";
import { settleWithin } from "../runtime/settle_within.ts";
import { markLeader, unmarkLeader } from "../storage/maintenance.ts";
import { type Store, storeOf } from "../storage/store.ts";
import {
  fencedSql,
  holdsLeaderLock,
  LeadershipLost,
  passFence,
  type Term,
  tryLeaderLock,
  unlockLeaderLock,
} from "./fence.ts";

/** Leader election settings, under `maintenance.leader`. Unknown keys are rejected. */
export interface LeaderOptions {
  /** How often a follower tries to take the leader lock, in ms, 1 to 1 hour. Default 10 000. */
  electionRetryMs?: number;
  /**
   * How often the leader checks that its lock connection still holds the lock, in ms, 1 to
   * 1 hour. Default 5000. A leader that cannot confirm its lock for 3 such intervals (at
   * least 1 s) stops reporting itself as leader; its steps are fenced regardless.
   */
  pingMs?: number;
}

/** Resolved {@link LeaderOptions}. */
export type ResolvedLeaderOptions = Required<LeaderOptions>;

/** Validate leader options given at `field` and apply defaults. */
export function resolveLeader(input: unknown, field: string): ResolvedLeaderOptions {
  const o = checkOptionalObject(input, field, ["electionRetryMs", "pingMs"]);
  return {
    electionRetryMs: intIn(o.electionRetryMs, `${field}.electionRetryMs`, 1, HOUR_MS, 10_000),
    pingMs: intIn(o.pingMs, `${field}.pingMs`, 1, HOUR_MS, 5000),
  };
}

/** Report the 1st, 2nd, 3rd, then every 2^k-th of a run of failures, so an outage is not a flood. */
export function worthReporting(failures: number): boolean {
  return failures <= 3 || (failures & (failures - 1)) === 0;
}

/**
 * Open the one-connection pool that holds the leader lock (see `openSession`). A statement on
 * a new session after a reconnect is harmless: it holds no lock. The session has no idle or
 * lifetime limit: closing it gives up the lock.
 */
export function openLockSession(db: string | Sql): Sql {
  return openSession(db, true);
}

/** What a {@link Leader} works with. */
export interface LeaderDeps {
  /** The client's pool: fenced statements, leadership checks and bookkeeping. */
  sql: Sql;
  /** The lock session from {@link openLockSession}. */
  lockSql: Sql;
  schema: string;
  instanceId: string;
  /** Report an internal failure as an `error` event at `where`. */
  emitError(err: unknown, where: string): void;
  /** This process now leads under `term`. */
  onLead(term: Term): void;
  /** This process stopped leading (deposed, or shutting down). */
  onLose(): void;
}

/** Leader election, leadership checks and resignation of one client. */
export class Leader {
  /** Statements fenced to the current term, as postgres.js Sql and as a store. */
  readonly fencedSql: Sql;
  readonly fencedStore: Store;
  /** Unfenced: bookkeeping that must run after leadership ended. */
  #store: Store;
  #deps: LeaderDeps;
  #options: ResolvedLeaderOptions;
  #term: Term | null = null;
  #stopped = false;
  #electionTimer: ReturnType<typeof setTimeout> | null = null;
  #electionFailures = 0;
  /** When the last leadership check that succeeded was sent (ms since the epoch). */
  #confirmedAt = 0;
  #pingFailures = 0;
  /** Elections this process won. */
  elections = 0;

  constructor(deps: LeaderDeps, options: ResolvedLeaderOptions) {
    this.#deps = deps;
    this.#options = options;
    this.fencedSql = fencedSql(deps.sql, () => this.#term);
    this.fencedStore = storeOf(toExecutor(this.fencedSql), deps.schema);
    this.#store = storeOf(toExecutor(deps.sql), deps.schema);
  }

  /** The current term, or null when not leading. */
  get term(): Term | null {
    return this.#term;
  }

  get leading(): boolean {
    return this.#term !== null;
  }

  get pingMs(): number {
    return this.#options.pingMs;
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
    if (this.#stopped || this.#term) return;
    const { lockSql, sql, schema } = this.#deps;
    let term: Term | null = null;
    try {
      term = await tryLeaderLock(lockSql, schema);
      if (!term) {
        this.#electionFailures = 0;
        this.#scheduleElection(this.#options.electionRetryMs);
        return;
      }
      // Wait out any statement an earlier leader still has in flight.
      if (!(await passFence(sql, term, () => this.#stopped)) || this.#stopped) {
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
    this.elections++;
    await this.#recordLeader(true);
    if (this.#term === term) this.#deps.onLead(term);
  }

  /**
   * An election could not be held (typically: the database is unreachable). Retry sooner
   * than a normal election first, backing off to `electionRetryMs`, and report only the
   * first few of a run of failures.
   */
  #electionFailed(err: unknown): void {
    const n = ++this.#electionFailures;
    if (worthReporting(n)) this.#deps.emitError(err, "leader election");
    const retry = this.#options.electionRetryMs;
    const ms = Math.min(retry, Math.max(50, retry / 16) * 2 ** (n - 1));
    this.#scheduleElection(ms * (0.75 + Math.random() / 2));
  }

  /** Give the leader lock back; on a lock session that died, there is nothing to give. */
  async #unlock(): Promise<void> {
    try {
      await unlockLeaderLock(this.#deps.lockSql);
    } catch {
      // The session is gone, and the lock with it.
    }
  }

  /** Leadership counts as confirmed at `at` (ms since the epoch), if later than before. */
  confirm(at: number): void {
    this.#confirmedAt = Math.max(this.#confirmedAt, at);
  }

  /**
   * Confirm that the lock is still ours. Each check and each maintenance step that succeeds
   * (every step proves leadership) confirms it as of when it began. Once leadership has gone
   * unconfirmed for 3 ping intervals, at least 1 s (the database is unreachable, or its
   * connections hang), this process stops calling itself the leader. That changes no outcome,
   * since every statement is fenced, but keeps `isLeader` from claiming what cannot be shown.
   * Throws {@link LeadershipLost} when the lock is gone or unconfirmed.
   */
  async ping(): Promise<void> {
    const term = this.#term;
    if (!term) return;
    const ms = this.#options.pingMs;
    const sentAt = Date.now();
    const check = holdsLeaderLock(this.#deps.sql, term);
    // A late answer still counts.
    check.then((held) => held && this.#term === term && this.confirm(sentAt), () => {});
    try {
      const answer = await settleWithin(check, ms);
      if (answer.done && !answer.value) throw new LeadershipLost(term);
      if (answer.done) {
        this.#pingFailures = 0;
        return;
      }
    } catch (err) {
      if (err instanceof LeadershipLost) throw err;
      if (worthReporting(++this.#pingFailures)) this.#deps.emitError(err, "leader check");
    }
    if (Date.now() - this.#confirmedAt > Math.max(3 * ms, 1000)) throw new LeadershipLost(term);
  }

  /**
   * The lock went with its connection, or cannot be confirmed: stop leading now and let an
   * election decide. The election is scheduled before resigning completes, which may wait on
   * an unreachable database; the lock session runs the unlock before any later attempt.
   */
  async deposed(): Promise<void> {
    const term = this.#term;
    this.#deps.emitError(
      new Error(`leader lock connection (backend ${term?.pid}) is gone or unconfirmed`),
      "leader connection lost",
    );
    const resigned = this.#resign();
    // Wait one election interval so a healthy follower can take over rather than a process
    // whose connection just failed.
    this.#scheduleElection(this.#options.electionRetryMs);
    await resigned;
  }

  /**
   * Show leadership in `awa.runtime_instances` for operators. Taking it clears every other row's
   * flag, including that of a leader that died without resigning. Best effort: the advisory
   * lock, not this column, is what elects.
   */
  async #recordLeader(leading: boolean): Promise<void> {
    const { instanceId } = this.#deps;
    try {
      // Taking the flag is fenced like any leader statement; dropping one's own is not.
      if (leading) await markLeader(this.fencedStore, instanceId);
      else await unmarkLeader(this.#store, instanceId);
    } catch (err) {
      if (!(err instanceof LeadershipLost)) this.#deps.emitError(err, "record leadership");
    }
  }

  /** Stop leading and give the lock back. */
  async #resign(): Promise<void> {
    const term = this.#term;
    this.#term = null;
    if (!term) return;
    this.#deps.onLose();
    const unlocked = this.#unlock();
    await this.#recordLeader(false);
    await unlocked;
  }
}
