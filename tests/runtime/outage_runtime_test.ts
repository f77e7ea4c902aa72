/**
 * The runtime across a short outage (issue 19, items 2, 6, 7): an outcome reached while the
 * server restarts is saved once it is back (the job is not run again, nor reported stale),
 * error events are transient DatabaseErrors, and unhandled errors are logged once per kind
 * with a count instead of one record each. Runs its own embedded PostgreSQL.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import type { Sql } from "postgres";
import { Client, DatabaseError, defineJob, insert, migrate } from "../../mod.ts";
import { RuntimeCore } from "../../src/runtime/core.ts";
import { startEmbeddedPostgres } from "../../dev/embedded_postgres.ts";
import { POOL_TEST, sleep, terminalTotal, waitFor } from "../support/runtime.ts";
import { settleWithin, trackUnhandledRejections } from "../support/outage.ts";

const unhandled = trackUnhandledRejections();

Deno.test("emitError: driver errors become DatabaseErrors; repeats are counted, not logged", () => {
  const core = new RuntimeCore(null as unknown as Sql, "awa", "test");
  const lines: string[] = [];
  core.errorSink = (...data) => void lines.push(data.map(String).join(" "));
  core.errorLogWindowMs = 60_000;
  const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  for (let i = 0; i < 50; i++) core.emitError(refused, "claim q");
  core.emitError(Object.assign(new Error("canceled"), { code: "57014" }), "claim q");
  core.emitError(refused, "heartbeat");
  assert.equal(lines.length, 3, lines.join("\n"));
  assert.match(lines[0], /awa: claim q:.*ECONNREFUSED/);
  core.noteSuccess("claim q");
  assert.equal(lines.length, 4);
  assert.match(lines[3], /claim q: 49 more like this/);

  // With a listener, events carry the typed error.
  const seen: unknown[] = [];
  core.on("error", ({ error }) => void seen.push(error));
  core.emitError(refused, "claim q");
  assert.ok(seen[0] instanceof DatabaseError);
  assert.equal((seen[0] as DatabaseError).transient, true);
  assert.equal((seen[0] as DatabaseError).sqlState, "ECONNREFUSED");
  assert.equal((seen[0] as DatabaseError).code, "DATABASE");
});

Deno.test("emitError: a window's repeats are summarised when it has passed", async () => {
  const core = new RuntimeCore(null as unknown as Sql, "awa", "test");
  const lines: string[] = [];
  core.errorSink = (...data) => void lines.push(data.map(String).join(" "));
  core.errorLogWindowMs = 50;
  const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  for (let i = 0; i < 10; i++) core.emitError(refused, "claim q");
  await sleep(80);
  core.emitError(refused, "claim q");
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(lines[1], /10 more like this/);
});

Deno.test("backoffAfter: doubles per consecutive failure up to 2 s; success resets it", () => {
  const core = new RuntimeCore(null as unknown as Sql, "awa", "test");
  const refused = Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
  const waits = Array.from({ length: 8 }, () => core.backoffAfter("claim q", refused));
  assert.ok(waits[0] >= 80 && waits[0] <= 120, `first wait ${waits[0]}`);
  for (let i = 1; i < 5; i++) assert.ok(waits[i] > waits[i - 1] * 1.2, waits.join(","));
  assert.ok(waits[7] <= 2400 && waits[7] >= 1600, `capped: ${waits[7]}`);
  assert.ok(core.backoffAfter("other", refused) <= 120, "per operation");
  core.noteSuccess("claim q");
  assert.ok(core.backoffAfter("claim q", refused) <= 120, "reset by success");
});

Deno.test({
  name: "an outcome reached while the server is down 3 s lands after it: no second run, no stale",
  ...POOL_TEST,
  async fn() {
    const server = await startEmbeddedPostgres();
    const admin = postgres(server.url, { max: 1, onnotice: () => {} });
    const job = defineJob<{ n: number }>("outage_rt_job", { queue: "outage_rt" });
    const client = new Client(server.url, {
      queues: { outage_rt: { maxWorkers: 4, pollIntervalMs: 50 } },
      poolSize: 2,
      heartbeat: { intervalMs: 500, stalenessMs: 15_000 },
      maintenance: {
        leader: { electionRetryMs: 200, pingMs: 100 },
        rescue: { intervalMs: 200 },
        promote: { intervalMs: 50 },
      },
    });
    const runs: number[] = [];
    const events: string[] = [];
    const errors: { error: unknown; where: string }[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => release = r);
    client.work(job, async (j) => {
      runs.push(j.id);
      await gate;
      return "done";
    });
    client.on("completed", () => void events.push("completed"));
    client.on("stale", () => void events.push("stale"));
    client.on("error", (e) => void errors.push(e));
    try {
      await migrate(admin);
      await client.start();
      const j = await insert(admin, job, { n: 1 });
      await waitFor("the handler runs", () => runs.length === 1);
      await server.halt("fast");
      release(); // the outcome is reached with the server down
      await sleep(3000);
      await server.resume();
      await waitFor("the outcome lands", () => events.length > 0, 10_000);
      await sleep(500);
      assert.deepEqual(events, ["completed"]);
      assert.deepEqual(runs, [j!.id], "the handler ran once");
      // Counted, not looked up: the finished row may already be pruned or folded.
      await waitFor(
        "one completion in the database",
        async () => (await terminalTotal(admin, "outage_rt", "completed")) === 1,
        5000,
      );
      assert.ok(errors.length > 0, "the outage was reported");
      for (const { error, where } of errors) {
        assert.ok(error instanceof DatabaseError, String(error));
        // Leadership changes are reported by maintenance.ts in its own terms.
        if (!where.startsWith("leader")) assert.equal(error.transient, true, error.message);
      }
      const stop = await settleWithin(client.shutdown({ timeoutMs: 2000 }), 10_000);
      assert.equal(stop.status, "fulfilled", "shutdown finishes");
    } finally {
      await settleWithin(client.shutdown({ timeoutMs: 500 }), 10_000);
      await admin.end({ timeout: 1 });
      await server.stop();
    }
    assert.deepEqual(unhandled, []);
  },
});
