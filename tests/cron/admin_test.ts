/**
 * The admin layer on a running client: an every-second schedule is paused over three fires
 * (nothing enqueued), triggered (one job with `triggered_manually: true`, the timetable does not
 * move), the client restarts (the pause survives its sync), and resumed (one coalesced fire for
 * what was missed, then every second again). Listing shows the next fire in the schedule's time
 * zone and in UTC; remove deletes; unknown names throw CronNotFoundError.
 */
import assert from "node:assert/strict";
import { Client, CronNotFoundError, ValidationError } from "../../mod.ts";
import {
  listCronJobs,
  pauseCronJob,
  removeCronJob,
  resumeCronJob,
  triggerCronJob,
} from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, sleep, TIMINGS, waitFor } from "../support/runtime.ts";
import { cronTick, declare, jobsOf } from "../support/cron.ts";

const t = await testDatabase("cron_admin");
const sql = t.sql;

function leaderClient(): Client {
  const c = new Client(t.connect(), { queues: { cron_side: {} }, ...TIMINGS });
  c.cron("beat", "* * * * * *", cronTick, {});
  return c;
}

const fireMs = (s: string) => Date.parse(s.replace(" ", "T").replace(/\+00$/, "Z"));

Deno.test({
  name: "pause over three fires, trigger, restart, resume: coalesced, then firing again",
  ...POOL_TEST,
  async fn() {
    let client = leaderClient();
    await client.start();
    try {
      await waitFor("two fires", async () => (await jobsOf(sql, "beat")).length >= 2, 15_000);
      const paused = await pauseCronJob(sql, "beat", { pausedBy: "ops@example" });
      assert.equal(paused.pausedBy, "ops@example");
      assert.ok(paused.pausedAt instanceof Date);
      const atPause = (await jobsOf(sql, "beat")).length;
      const lastAtPause = paused.lastEnqueuedAt!;
      await sleep(3500);
      assert.equal((await jobsOf(sql, "beat")).length, atPause, "nothing fired while paused");

      const id = await triggerCronJob(sql, "beat");
      const manual = (await jobsOf(sql, "beat")).find((j) => j.id === id)!;
      assert.equal(manual.manual, true);
      assert.equal(manual.fireTime, null, "a manual trigger is no fire");
      const [afterTrigger] = await listCronJobs(sql);
      assert.equal(afterTrigger.lastEnqueuedAt?.getTime(), lastAtPause.getTime(), "timetable kept");

      // A restart syncs the schedule again: still paused.
      await client.shutdown({ timeoutMs: 1000 });
      client = leaderClient();
      await client.start();
      await waitFor("the new client leads", () => client.isLeader, 10_000);
      await sleep(1500);
      assert.equal((await jobsOf(sql, "beat")).length, atPause + 1, "still paused after restart");

      const resumedAt = Date.now();
      const resumed = await resumeCronJob(sql, "beat");
      assert.equal(resumed.pausedAt, null);
      assert.equal(resumed.pausedBy, null);
      await waitFor("fires after resume", async () => {
        return (await jobsOf(sql, "beat")).filter((j) => j.fireTime !== null).length >= atPause + 3;
      }, 15_000);
      const fires = (await jobsOf(sql, "beat")).filter((j) => j.fireTime !== null)
        .map((j) => fireMs(j.fireTime!));
      const afterResume = fires.slice(atPause);
      // Coalesced: the first fire after the resume is the latest one due, not the oldest missed.
      assert.ok(afterResume[0] >= resumedAt - 2000, "the missed fires were coalesced into one");
      assert.ok(afterResume[0] - lastAtPause.getTime() >= 5000, "the pause spans 5 s of fires");
      for (let i = 1; i < afterResume.length; i++) {
        assert.equal(afterResume[i] - afterResume[i - 1], 1000, "then every second again");
      }
      assert.equal(new Set(fires).size, fires.length, "no fire twice");
    } finally {
      await client.shutdown({ timeoutMs: 1000 });
    }
    await sql`DELETE FROM awa.cron_jobs`;
  },
});

Deno.test({
  name: "list shows the next fire in the schedule's time zone and in UTC; remove deletes",
  ...POOL_TEST,
  async fn() {
    await declare(sql, "ny_nightly", "30 2 * * *", { timezone: "America/New_York" });
    await declare(sql, "utc_hourly", "0 * * * *");
    const list = await listCronJobs(sql, { now: new Date("2026-03-07T12:00:00Z") });
    assert.deepEqual(list.map((s) => s.name), ["ny_nightly", "utc_hourly"]);
    const [ny, utc] = list;
    assert.equal(ny.nextFireAt?.toISOString(), "2026-03-08T07:00:00.000Z");
    assert.equal(ny.nextFireLocal, "2026-03-08T03:00:00-04:00", "the gap's 02:30 runs at 03:00");
    assert.equal(ny.timezone, "America/New_York");
    assert.equal(ny.kind, "cron_tick");
    assert.equal(ny.missedFire, "coalesce");
    assert.equal(ny.lastEnqueuedAt, null);
    assert.equal(utc.nextFireLocal, "2026-03-07T13:00:00+00:00");
    const winter = await listCronJobs(sql, { now: new Date("2026-01-10T12:00:00Z") });
    assert.equal(winter[0].nextFireLocal, "2026-01-11T02:30:00-05:00");

    assert.equal(await removeCronJob(sql, "ny_nightly"), true);
    assert.equal(await removeCronJob(sql, "ny_nightly"), false);
    assert.deepEqual((await listCronJobs(sql)).map((s) => s.name), ["utc_hourly"]);
    for (
      const op of [
        () => pauseCronJob(sql, "ny_nightly"),
        () => resumeCronJob(sql, "ny_nightly"),
        () => triggerCronJob(sql, "ny_nightly"),
      ]
    ) {
      await assert.rejects(
        op,
        (e: unknown) => e instanceof CronNotFoundError && e.code === "CRON_NOT_FOUND",
      );
    }
    await assert.rejects(() => pauseCronJob(sql, "bad name"), ValidationError);
    await assert.rejects(
      () => pauseCronJob(sql, "utc_hourly", { by: "x" } as never),
      (e: unknown) => e instanceof ValidationError && e.field === "options.by",
    );
    await assert.rejects(
      () => listCronJobs(sql, { now: new Date(NaN) }),
      (e: unknown) => e instanceof ValidationError && e.field === "options.now",
    );
    // Inside the caller's transaction: rolled back with it.
    await sql.begin(async (tx) => {
      await pauseCronJob(tx, "utc_hourly", { pausedBy: "tx" });
      await tx`SELECT 1/0`.catch(() => {});
    }).catch(() => {});
    assert.equal((await listCronJobs(sql))[0].pausedBy, null);
    await sql`DELETE FROM awa.cron_jobs`;
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
