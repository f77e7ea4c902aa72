/**
 * Helpers shared by the runtime tests (tests/runtime/ and others). Not a test file itself.
 */
import type { Sql } from "./db.ts";
import type { ClientOptions, MaintenanceOptions } from "../../mod.ts";

/** The timing parts of client options: heartbeat, notifier and maintenance services. */
export type Timings = Pick<ClientOptions, "heartbeat" | "notifier"> & {
  maintenance?: MaintenanceOptions;
};

/**
 * Short liveness and maintenance timings for tests; spread them into client options. Rotation
 * stays at 1 s: terminal rows live 16 rotations, and tests that read a finished job's state
 * from `awa.jobs` need it retained (at 100 ms it can be pruned before a loaded machine gets to
 * look). Ring tests override it. Staleness is ten heartbeats: at three, a loaded CI machine
 * delayed live heartbeats past it, rescue took running attempts from their live worker, and
 * their completions were dropped as stale. The leader pings every second, so it deposes itself
 * only after 3 s without a confirmed lock: at 100 ms (1 s unconfirmed) loaded runs deposed
 * healthy leaders and reported "leader connection lost".
 */
export const TIMINGS: Timings = {
  heartbeat: { intervalMs: 200, stalenessMs: 2000 },
  maintenance: {
    leader: { electionRetryMs: 200, pingMs: 1000 },
    promote: { intervalMs: 50 },
    rescue: { intervalMs: 200 },
    rings: { intervalMs: 1000 },
  },
};

/** `base` (default {@link TIMINGS}) with the settings of `patch`, merged per service. */
export function withTimings(patch: Timings, base: Timings = TIMINGS): Timings {
  const maintenance: Record<string, unknown> = { ...base.maintenance };
  for (const [name, given] of Object.entries(patch.maintenance ?? {})) {
    const was = maintenance[name];
    maintenance[name] = typeof given === "object" && typeof was === "object"
      ? { ...was, ...given }
      : given;
  }
  return {
    heartbeat: { ...base.heartbeat, ...patch.heartbeat },
    notifier: { ...base.notifier, ...patch.notifier },
    maintenance: maintenance as MaintenanceOptions,
  };
}

export { POOL_TEST } from "./db.ts";

/**
 * Poll `cond` until it returns a truthy value and return that value; fails after `timeoutMs`
 * with `what` in the message. The timeout only bounds the wait; it never proves anything.
 */
export async function waitFor<T>(
  what: string,
  cond: () => T | Promise<T>,
  timeoutMs = 20_000,
  everyMs = 25,
): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what} (last: ${last})`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** State of one job in the jobs view, or undefined when the job is in no family. */
export async function jobState(
  sql: Sql,
  id: number,
): Promise<{ state: string; attempt: number; run_lease: number; held: string | null } | undefined> {
  const rows = await sql<{ state: string; attempt: number; run_lease: number; held: string }[]>`
    SELECT state::text, attempt, run_lease::int, held FROM awa.jobs WHERE id = ${id}
    ORDER BY run_lease DESC LIMIT 1`;
  return rows[0];
}

/** Receipt of the newest claim of a job: what a finalization must present. */
export interface Receipt {
  claim_slot: number;
  batch_id: string;
  idx: number;
  job_id: number;
  run_lease: number;
}

export async function receiptOfJob(sql: Sql, jobId: number): Promise<Receipt | undefined> {
  const rows = await sql<Receipt[]>`
    SELECT b.claim_slot, b.batch_id::text, (u.ord - 1)::int AS idx, u.job_id::int AS job_id,
      u.run_lease::int AS run_lease
    FROM awa.claim_batches b
    CROSS JOIN LATERAL unnest(b.job_ids, b.run_leases) WITH ORDINALITY AS u(job_id, run_lease, ord)
    WHERE u.job_id = ${jobId}
    ORDER BY u.run_lease DESC LIMIT 1`;
  return rows[0];
}

/** Call awa.finalize_attempts with one item; returns the applied rows (empty when stale). */
export async function finalizeRaw(
  sql: Sql,
  r: Receipt,
  outcome = "completed",
): Promise<{ job_id: string; state: string }[]> {
  const items = JSON.stringify([{ ...r, outcome }]);
  const rows = await sql<{ job_id: string; state: string }[]>`
    SELECT job_id::text, state FROM awa.finalize_attempts(${items}::text::jsonb)`;
  return [...rows];
}

/** Terminal jobs of a state in a queue, across retained rows, unfolded deltas and rollups. */
export async function terminalTotal(sql: Sql, queue: string, state: string): Promise<number> {
  const [{ n }] = await sql<{ n: number }[]>`
    SELECT (
      (SELECT count(*) FROM awa.done_entries WHERE queue = ${queue} AND state = ${state}::awa.job_state)
      + (SELECT coalesce(sum(delta), 0) FROM awa.terminal_rollup_deltas
         WHERE queue = ${queue} AND state = ${state}::awa.job_state)
      + (SELECT coalesce(sum(total), 0) FROM awa.terminal_rollups
         WHERE queue = ${queue} AND state = ${state}::awa.job_state)
    )::int AS n`;
  return n;
}

/** Count of jobs of a queue by state in the jobs view. */
export async function statesOf(sql: Sql, queue: string): Promise<Record<string, number>> {
  const rows = await sql<{ state: string; n: number }[]>`
    SELECT state::text, count(*)::int AS n FROM awa.jobs WHERE queue = ${queue} GROUP BY 1`;
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

/** Ring leaf tables whose rows must only ever be inserted and truncated. */
export const RING_TABLE_PATTERN =
  "^(ready_entries|ready_tombstones|claim_emissions|done_entries|claim_batches|claim_closures|attempt_heartbeats)_[0-9]+$";

export interface RingTupleStats {
  dead: number;
  upd: number;
  del: number;
  ins: number;
  byTable: Record<string, { dead: number; upd: number; del: number }>;
}

/** Dead tuples, updates and deletes of awa's ring leaf tables (pg_stat_user_tables). */
export async function ringTupleStats(sql: Sql): Promise<RingTupleStats> {
  const rows = await sql<
    { relname: string; dead: number; upd: number; del: number; ins: number }[]
  >`
    SELECT relname, n_dead_tup::int AS dead, n_tup_upd::int AS upd, n_tup_del::int AS del,
      n_tup_ins::int AS ins
    FROM pg_stat_user_tables
    WHERE schemaname = 'awa' AND relname ~ ${RING_TABLE_PATTERN}`;
  const out: RingTupleStats = { dead: 0, upd: 0, del: 0, ins: 0, byTable: {} };
  for (const r of rows) {
    out.dead += r.dead;
    out.upd += r.upd;
    out.del += r.del;
    out.ins += r.ins;
    if (r.dead || r.upd || r.del) out.byTable[r.relname] = { dead: r.dead, upd: r.upd, del: r.del };
  }
  return out;
}

/** A fixture process with its stdout split into JSON lines. */
export class Fixture {
  readonly child: Deno.ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  #waiters: (() => void)[] = [];
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly done: Promise<void>;

  constructor(script: string, args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(`../fixtures/${script}`, import.meta.url).pathname, ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#stdin = this.child.stdin.getWriter();
    this.done = this.#read();
  }

  async #read(): Promise<void> {
    let buf = "";
    const dec = new TextDecoder();
    for await (const chunk of this.child.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        try {
          this.lines.push(JSON.parse(line));
        } catch {
          console.log(`[fixture] ${line}`);
        }
        for (const w of this.#waiters.splice(0)) w();
      }
    }
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Wait for a printed line matching `pred`. */
  async line(pred: (l: Record<string, unknown>) => boolean, timeoutMs = 30_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (Date.now() > until) {
        throw new Error(`fixture printed no matching line: ${JSON.stringify(this.lines)}`);
      }
      await Promise.race([
        new Promise<void>((r) => this.#waiters.push(r)),
        sleep(Math.max(1, until - Date.now())),
      ]);
    }
  }

  /** Close stdin: the fixture shuts down gracefully and exits. */
  async stop(): Promise<Deno.CommandStatus> {
    try {
      await this.#stdin.close();
    } catch {
      // already closed
    }
    const status = await this.child.status;
    await this.done;
    return status;
  }

  /** Kill (SIGKILL by default) and reap; safe to call more than once. */
  async kill(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    try {
      this.child.kill(signal);
    } catch {
      // already exited
    }
    try {
      await this.#stdin.close();
    } catch {
      // already closed
    }
    await this.child.status;
    await this.done;
  }
}
