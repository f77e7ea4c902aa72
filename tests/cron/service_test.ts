/**
 * The cron maintenance service: its options, a tick that waits for a fire due before the next
 * tick and enqueues it then (never before its time), shutdown ending that wait, and a stored
 * schedule this runtime cannot read reported once as an error event while the others fire.
 */
import assert from "node:assert/strict";
import { ValidationError } from "../../mod.ts";
import { cron, endCronWaits } from "../../src/maintenance/cron.ts";
import { testDatabase } from "../support/db.ts";
import { type Emitted, prepared, SETTINGS, tickContext } from "../support/maintenance.ts";
import { POOL_TEST } from "../support/runtime.ts";
import { declare, jobsOf, setLastFire } from "../support/cron.ts";

const t = await testDatabase("cron_service");
const sql = t.sql;

const fireMs = (s: string) => Date.parse(s.replace(" ", "T").replace(/\+00$/, "Z"));

Deno.test({
  name:
    "cron: intervalMs defaults to 1000, is an integer from 1 ms to 1 hour, unknown keys refused",
  ...POOL_TEST,
  fn() {
    const field = "maintenance.cron";
    assert.deepEqual(cron.resolve(undefined, field, SETTINGS), { intervalMs: 1000 });
    assert.deepEqual(cron.resolve({ intervalMs: 250 }, field, SETTINGS), { intervalMs: 250 });
    for (const bad of [{ intervalMs: 0 }, { intervalMs: 1.5 }, { everyMs: 5 }]) {
      assert.throws(() => cron.resolve(bad as never, field, SETTINGS), ValidationError);
    }
  },
});

Deno.test({
  name: "cron: a tick waits for a fire due before the next tick and enqueues it, never early",
  ...POOL_TEST,
  async fn() {
    await declare(sql, "every_second", "* * * * * *");
    await setLastFire(sql, "every_second", 0);
    const p = prepared(cron, undefined, tickContext(sql));
    const started = Date.now();
    const stats = await p.tick();
    const took = Date.now() - started;
    const jobs = await jobsOf(sql, "every_second");
    assert.ok(stats.cronFired >= 2, "the seconds after the first pass were fired within the tick");
    for (const j of jobs) {
      assert.ok(j.createdAt.getTime() >= fireMs(j.fireTime!), "enqueued after its fire time");
    }
    // At most 4 waits of less than one interval each, then the tick ends.
    assert.ok(took < 4 * 1000 + 2000, `the tick took ${took} ms`);
    console.log(
      `tick ${took} ms, lateness ${
        jobs.map((j) => j.createdAt.getTime() - fireMs(j.fireTime!))
      } ms`,
    );
    await sql`DELETE FROM awa.cron_jobs`;
  },
});

Deno.test({
  name: "cron: shutdown (endCronWaits) ends a tick's wait at once",
  ...POOL_TEST,
  async fn() {
    await declare(sql, "every_5s", "*/5 * * * * *");
    await setLastFire(sql, "every_5s", 0);
    const ctx = tickContext(sql);
    const p = prepared(cron, { intervalMs: 10_000 }, ctx);
    const tick = p.tick();
    await new Promise((r) => setTimeout(r, 200));
    const ended = Date.now();
    endCronWaits(ctx.instanceId);
    await tick;
    assert.ok(Date.now() - ended < 2000, "the tick did not wait out its fire");
    await sql`DELETE FROM awa.cron_jobs`;
  },
});

Deno.test({
  name: "cron: an unreadable stored schedule is reported once; the others still fire",
  ...POOL_TEST,
  async fn() {
    // Yearly, last fired 400 days ago: one coalesced fire is due, and no new fire can come due
    // between the two ticks (an every-minute schedule did when the ticks straddled a minute).
    await declare(sql, "good", "0 0 1 1 *");
    await declare(sql, "from_elsewhere", "* * * * *");
    await setLastFire(sql, "good", 400 * 86_400);
    await sql`UPDATE awa.cron_jobs SET cron_expr = '0 0 0 1 1 * 2099' WHERE name = 'from_elsewhere'`;
    const events: Emitted[] = [];
    const p = prepared(cron, undefined, tickContext(sql, events));
    await p.tick();
    await p.tick();
    assert.equal((await jobsOf(sql, "good")).length, 1);
    const errors = events.filter((e) => e.event === "error");
    assert.equal(errors.length, 1, "reported once");
    assert.equal(
      (errors[0].payload as { where: string }).where,
      "maintenance cron schedule from_elsewhere",
    );
    await sql`DELETE FROM awa.cron_jobs`;
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
