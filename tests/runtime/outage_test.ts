/**
 * Postgres going away under load (issue 19): a producer and two worker processes (64 workers,
 * pool of 2 each) against an embedded PostgreSQL of this file's own, which is restarted fast
 * three times, restarted immediately (crash-like) and kept down for 20 s. Then every
 * acknowledged job has completed, no handler ran again after it returned, work resumed soon
 * after each restart, every error event was a transient DatabaseError, nothing was rejected
 * unhandled and shutdown is clean. A second scenario runs the fleet under
 * `statement_timeout = 10ms` and `lock_timeout = 1ms`.
 *
 * Measured recovery times and second-run counts are printed for the notes.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import postgres from "postgres";
import { migrate } from "../../mod.ts";
import { startEmbeddedPostgres } from "../../dev/embedded_postgres.ts";
import { Fixture, POOL_TEST, sleep, terminalTotal } from "../support/runtime.ts";
import { settleWithin, trackUnhandledRejections } from "../support/outage.ts";

const unhandled = trackUnhandledRejections();
// Durable commits: with synchronous_commit off an immediate shutdown loses acknowledged
// commits (claims and inserts), which no client can make up for.
const server = await startEmbeddedPostgres({ fast: false });
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "awa-outage-"));

/** Liveness stays fresh across a 20 s outage, so only a lost outcome could cause a second run. */
const TIMINGS = {
  heartbeat: { intervalMs: 1000, stalenessMs: 30_000 },
  maintenance: {
    leader: { electionRetryMs: 1000, pingMs: 500 },
    rescue: { intervalMs: 1000 },
    promote: { intervalMs: 100 },
    // Terminal rows stay visible in awa.jobs for 16 rotations: long enough to check every job.
    rings: { intervalMs: 10_000 },
    fold: { intervalMs: 600_000 },
  },
};

function dbUrl(db: string): string {
  const u = new URL(server.url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Jobs of one scenario: a database, a producer and workers, and their record files. */
class Fleet {
  readonly url: string;
  readonly workers: Fixture[] = [];
  producer: Fixture | null = null;
  readonly runsFiles: string[] = [];
  readonly acksFile: string;
  /** Checks from the test process; immune to the database's timeouts. */
  readonly sql: postgres.Sql;

  constructor(readonly db: string) {
    this.url = dbUrl(db);
    this.acksFile = path.join(workDir, `${db}.acks`);
    this.sql = postgres(this.url, {
      max: 2,
      onnotice: () => {},
      connection: { statement_timeout: 0, lock_timeout: 0 },
    });
  }

  static async create(db: string): Promise<Fleet> {
    const admin = postgres(server.url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE ${db}`);
    await admin.end();
    const f = new Fleet(db);
    await migrate(f.sql);
    return f;
  }

  async startWorkers(n: number, poolSize: number, handlerMs = 5): Promise<void> {
    for (let i = 0; i < n; i++) {
      const runs = path.join(workDir, `${this.db}.w${this.workers.length}.runs`);
      this.runsFiles.push(runs);
      const fx = new Fixture("outage_worker.ts", [
        this.url,
        `w${this.workers.length}`,
        runs,
        JSON.stringify({ poolSize, timings: TIMINGS, handlerMs }),
      ]);
      this.workers.push(fx);
    }
    // Up to 75 s: under the 10 ms statement_timeout a worker retries start for up to a minute.
    await Promise.all(this.workers.map((w) => w.line((l) => l.ready === true, 75_000)));
  }

  async startProducer(batch = 20, everyMs = 50, single = false): Promise<void> {
    this.producer = new Fixture("outage_producer.ts", [
      this.url,
      this.acksFile,
      JSON.stringify({ batch, everyMs, single }),
    ]);
    await this.producer.line((l) => typeof l.ackAt === "number");
  }

  /** Time from `since` (Date.now()) to the first completion and the first insert after it. */
  async recovery(since: number, timeoutMs = 30_000): Promise<{ work: number; insert: number }> {
    const until = Date.now() + timeoutMs;
    const after = (fx: Fixture | null, key: string) =>
      fx?.lines.find((l) => typeof l[key] === "number" && (l[key] as number) > since)?.[key] as
        | number
        | undefined;
    for (;;) {
      const work = this.workers.map((w) => after(w, "completedAt")).filter((t) => t) as number[];
      const insert = after(this.producer, "ackAt");
      if (work.length > 0 && insert !== undefined) {
        return { work: Math.min(...work) - since, insert: insert - since };
      }
      if (Date.now() > until) {
        throw new Error(
          `no recovery within ${timeoutMs} ms (work: ${work.length > 0}, inserts: ${
            insert !== undefined
          }); last lines: ${
            JSON.stringify([this.producer, ...this.workers].map((f) => f?.lines.slice(-8)))
          }`,
        );
      }
      await sleep(50);
    }
  }

  acknowledged(): number[] {
    if (!fs.existsSync(this.acksFile)) return [];
    return fs.readFileSync(this.acksFile, "utf8").split("\n").filter(Boolean).map(Number);
  }

  /** Handler returns per job id, over all workers. */
  runs(): Map<number, number> {
    const m = new Map<number, number>();
    for (const f of this.runsFiles) {
      if (!fs.existsSync(f)) continue;
      for (const line of fs.readFileSync(f, "utf8").split("\n")) {
        if (!line) continue;
        const id = Number(line.split(" ")[0]);
        m.set(id, (m.get(id) ?? 0) + 1);
      }
    }
    return m;
  }

  /**
   * Wait until the queue holds no open job and at least every acknowledged job has completed
   * (terminal rows may already be folded into rollups, so completions are counted, not looked
   * up); returns the open jobs' states and the completed total.
   */
  async settle(timeoutMs: number): Promise<{ open: Record<string, number>; completed: number }> {
    const acked = this.acknowledged().length;
    const until = Date.now() + timeoutMs;
    for (;;) {
      const rows = await this.sql<{ state: string; n: number }[]>`
        SELECT state::text, count(*)::int AS n FROM awa.jobs
        WHERE queue = 'outage' AND state <> 'completed' GROUP BY 1`;
      const open = Object.fromEntries(rows.map((r) => [r.state, r.n]));
      const completed = await terminalTotal(this.sql, "outage", "completed");
      if ((rows.length === 0 && completed >= acked) || Date.now() > until) {
        return { open, completed };
      }
      await sleep(250);
    }
  }

  errorLines(): Record<string, unknown>[] {
    return this.workers.flatMap((w) => w.lines.filter((l) => typeof l.where === "string"));
  }

  unhandled(): unknown[] {
    return [...this.workers, this.producer].flatMap((w) =>
      w ? w.lines.filter((l) => l.unhandled).map((l) => l.unhandled) : []
    );
  }

  /** Graceful stop of the producer; false when it hung (and was killed). */
  async stopProducer(): Promise<boolean> {
    const r = await settleWithin(this.producer!.stop(), 20_000);
    if (r.status === "fulfilled") return true;
    await this.producer!.kill();
    return false;
  }

  /**
   * Graceful stop of every process; returns their exit codes (null: hung and was killed).
   * A worker shuts down with a 5 s timeout, which `Client.shutdown` keeps within about 30 s
   * even when the database stops answering.
   */
  async stop(): Promise<(number | null)[]> {
    const all = [this.producer, ...this.workers].filter((f): f is Fixture => f !== null);
    const codes: (number | null)[] = [];
    for (const fx of all) {
      const r = await settleWithin(fx.stop(), 40_000);
      if (r.status === "fulfilled") codes.push(r.value.code);
      else {
        console.log(
          `a process hung on stop; its last lines: ${JSON.stringify(fx.lines.slice(-6))}`,
        );
        await fx.kill();
        codes.push(null);
      }
    }
    return codes;
  }

  async close(): Promise<void> {
    for (const fx of [this.producer, ...this.workers]) await fx?.kill();
    await this.sql.end({ timeout: 1 });
  }
}

/**
 * A shutdown step that `Client.shutdown` stopped waiting for (the database did not answer in
 * time): a typed `TimeoutError`, counted in the report's error kinds.
 */
function shutdownCutShort(e: Record<string, unknown>): boolean {
  return String(e.where).startsWith("shutdown: ") && e.name === "TimeoutError" &&
    e.code === "TIMEOUT";
}

function report(
  label: string,
  f: Fleet,
  extra: Record<string, unknown> = {},
): { secondRuns: number; missing: number; jobsRun: number } {
  const acked = f.acknowledged();
  const runs = f.runs();
  const secondRuns = [...runs.values()].filter((n) => n > 1).length;
  const missing = acked.filter((id) => !runs.has(id)).length;
  const errs = f.errorLines();
  const kinds: Record<string, number> = {};
  for (const e of errs) {
    const k = `${e.name}/${e.sqlState ?? e.code}/${e.transient ? "transient" : "permanent"}`;
    kinds[k] = (kinds[k] ?? 0) + 1;
  }
  console.log(JSON.stringify({
    scenario: label,
    acknowledged: acked.length,
    jobsRun: runs.size,
    secondRuns,
    ackedNeverRun: missing,
    errorEvents: errs.length,
    errorKinds: kinds,
    stale: f.workers.reduce((n, w) => n + w.lines.filter((l) => l.stale).length, 0),
    failedStarts: f.workers.reduce((n, w) => n + w.lines.filter((l) => l.startFailed).length, 0),
    permanentErrors: errs.filter((e) => !e.transient).slice(0, 5),
    ...extra,
  }));
  return { secondRuns, missing, jobsRun: runs.size };
}

Deno.test({
  name: "restarts under load: fast ×3, immediate, 20 s down — exactly once, quick recovery",
  ...POOL_TEST,
  async fn() {
    const f = await Fleet.create("awa_outage_restarts");
    const recoveries: Record<string, { work: number; insert: number }>[] = [];
    try {
      await f.startWorkers(2, 2);
      await f.startProducer();
      await sleep(1500);
      const outages: [string, () => Promise<void>][] = [
        ["fast restart 1", () => server.halt("fast")],
        ["fast restart 2", () => server.halt("fast")],
        ["fast restart 3", () => server.halt("fast")],
        ["immediate restart", () => server.halt("immediate")],
        ["20 s down", async () => {
          await server.halt("fast");
          await sleep(20_000);
        }],
      ];
      for (const [label, down] of outages) {
        await down();
        await server.resume();
        const upAt = Date.now();
        const r = await f.recovery(upAt);
        console.log(
          `${label}: work resumed ${r.work} ms, inserts ${r.insert} ms after the server was up`,
        );
        recoveries.push({ [label]: r });
        await sleep(2000);
      }
      assert.ok(await f.stopProducer(), "the producer stops");
      const settled = await f.settle(30_000);
      const codes = await f.stop();
      const { secondRuns, missing, jobsRun } = report("restarts", f, {
        recoveries,
        settled,
        codes,
      });
      assert.deepEqual(settled.open, {}, "no job left open");
      // Every job that ran completed exactly once (acknowledged ones are among them).
      assert.equal(settled.completed, jobsRun, "completions = distinct jobs run");
      assert.equal(missing, 0, "acknowledged jobs whose handler never returned");
      assert.equal(secondRuns, 0, "jobs whose handler ran again after it returned");
      assert.deepEqual(codes, codes.map(() => 0), "every process shut down cleanly");
      assert.deepEqual(f.unhandled(), []);
      for (const r of recoveries) {
        for (const [label, v] of Object.entries(r)) {
          assert.ok(
            v.work < 10_000 && v.insert < 10_000,
            `${label}: recovered in ${JSON.stringify(v)}`,
          );
        }
      }
      const errs = f.errorLines();
      assert.ok(errs.length > 0, "the outages were reported");
      assert.deepEqual(errs.filter((e) => e.awa !== true).slice(0, 5), [], "only AwaErrors");
      // Leadership changes are reported by maintenance.ts in its own terms.
      const untyped = errs.filter((e) =>
        !String(e.where).startsWith("leader") && !shutdownCutShort(e) &&
        !(e.name === "DatabaseError" && e.transient === true)
      );
      assert.deepEqual(untyped.slice(0, 5), [], "every error event is a transient DatabaseError");
      assert.deepEqual(unhandled, []);
    } finally {
      await f.close();
    }
  },
});

Deno.test({
  name: "statement_timeout 10ms and lock_timeout 1ms: no crash, typed errors, no second runs",
  ...POOL_TEST,
  async fn() {
    const f = await Fleet.create("awa_outage_timeouts");
    try {
      await f.sql.unsafe(
        "ALTER DATABASE awa_outage_timeouts SET statement_timeout = '10ms'",
      );
      await f.sql.unsafe("ALTER DATABASE awa_outage_timeouts SET lock_timeout = '1ms'");
      await f.startWorkers(2, 2);
      // One insert per job: insertMany hangs for good when its COPY fails (as it does under
      // these timeouts), a producer defect outside this test.
      await f.startProducer(20, 50, true);
      await sleep(8000);
      assert.ok(await f.stopProducer(), "the producer stops");
      // Lift the timeouts so the backlog drains. Sessions keep the settings they started with,
      // so end every other session: the processes must reconnect on their own, which is one
      // more outage to survive.
      await f.sql.unsafe("ALTER DATABASE awa_outage_timeouts RESET statement_timeout");
      await f.sql.unsafe("ALTER DATABASE awa_outage_timeouts RESET lock_timeout");
      await f.sql.unsafe(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = 'awa_outage_timeouts' AND pid <> pg_backend_pid()`,
      );
      const settled = await f.settle(30_000);
      const codes = await f.stop();
      const { secondRuns, missing, jobsRun } = report("timeouts", f, { settled, codes });
      assert.deepEqual(f.unhandled(), [], "no unhandled rejection in any process");
      assert.deepEqual(codes, codes.map(() => 0), "no process crashed; shutdown is clean");
      assert.deepEqual(settled.open, {}, "no job left open");
      // Every job that ran completed exactly once (acknowledged ones are among them).
      assert.equal(settled.completed, jobsRun, "completions = distinct jobs run");
      assert.equal(missing, 0);
      assert.equal(secondRuns, 0, "jobs whose handler ran again after it returned");
      const untyped = f.errorLines().filter((e) =>
        e.name !== "DatabaseError" && !shutdownCutShort(e)
      );
      assert.deepEqual(untyped.slice(0, 5), [], "every error event is a DatabaseError");
      assert.deepEqual(unhandled, []);
    } finally {
      await f.close();
    }
  },
});

Deno.test({
  name: "stop the server",
  ...POOL_TEST,
  async fn() {
    await server.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  },
});
