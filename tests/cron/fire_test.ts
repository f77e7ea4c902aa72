/**
 * Fires on the real engine, with an injected clock: coalesce against catch_up after the last
 * fire is set 5 minutes back, the catch_up cap of 1000 per pass, no backfill for a new schedule,
 * the compare-and-swap that makes a second evaluation of the same read fire nothing, and a fire
 * whose insert fails leaving the schedule where it was.
 */
import assert from "node:assert/strict";
import { evaluateCron } from "../../src/cron/evaluate.ts";
import { toExecutor } from "../../src/db/executor.ts";
import { fireCronJob, readCronCandidates } from "../../src/storage/cron.ts";
import { storeOf } from "../../src/storage/store.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";
import { declare, evaluate, fireTimesOf, jobsOf, setLastFire } from "../support/cron.ts";

const t = await testDatabase("cron_fire");
const sql = t.sql;
const store = storeOf(toExecutor(sql), "awa");

async function lastFire(name: string): Promise<Date | null> {
  const [{ at }] = await sql<{ at: Date | null }[]>`
    SELECT last_enqueued_at AS at FROM awa.cron_jobs WHERE name = ${name}`;
  return at;
}

Deno.test({
  name: "after the last fire is set 5 min back, coalesce enqueues one job and catch_up each fire",
  ...POOL_TEST,
  async fn() {
    await declare(sql, "every10s_coalesce", "*/10 * * * * *");
    await declare(sql, "every10s_catch_up", "*/10 * * * * *", { missedFire: "catch_up" });
    const [{ now }] = await sql<{ now: Date }[]>`
      SELECT date_trunc('minute', clock_timestamp()) + interval '5 seconds' AS now`;
    for (const name of ["every10s_coalesce", "every10s_catch_up"]) {
      await sql`UPDATE awa.cron_jobs SET last_enqueued_at = ${now}::timestamptz - interval '5 minutes'
        WHERE name = ${name}`;
    }
    const pass = await evaluate(sql, now);
    assert.equal(pass.fired, 1 + 30);
    assert.equal(pass.lost, 0);
    const latest = new Date(now.getTime() - 5000).toISOString();
    assert.deepEqual(await fireTimesOf(sql, "every10s_coalesce"), [latest]);
    const caught = await fireTimesOf(sql, "every10s_catch_up");
    assert.equal(caught.length, 30, "one job per missed fire");
    assert.equal(caught[0], new Date(now.getTime() - 295_000).toISOString());
    assert.equal(caught.at(-1), latest);
    assert.deepEqual([...caught].sort(), caught, "enqueued in fire order");
    assert.equal((await lastFire("every10s_coalesce"))?.toISOString(), latest);
    assert.equal((await lastFire("every10s_catch_up"))?.toISOString(), latest);
    assert.equal((await evaluate(sql, now)).fired, 0, "nothing more is due at the same instant");
    await sql`DELETE FROM awa.cron_jobs`;
  },
});

Deno.test({
  name: "catch_up enqueues at most 1000 fires per pass and the rest at the next",
  ...POOL_TEST,
  async fn() {
    await declare(sql, "every_second", "* * * * * *", { missedFire: "catch_up" });
    const last = await setLastFire(sql, "every_second", 1800);
    const now = new Date(last.getTime() + 1_800_000);
    assert.equal((await evaluate(sql, now)).fired, 1000);
    assert.equal((await lastFire("every_second"))?.getTime(), last.getTime() + 1_000_000);
    assert.equal((await evaluate(sql, now)).fired, 800);
    const fires = await fireTimesOf(sql, "every_second");
    assert.equal(fires.length, 1800);
    assert.equal(new Set(fires).size, 1800, "no fire twice");
    assert.equal(fires.at(-1), now.toISOString());
    await sql`DELETE FROM awa.cron_jobs`;
  },
});

Deno.test({
  name: "a new schedule fires only the latest fire since its creation minus a minute",
  ...POOL_TEST,
  async fn() {
    await declare(sql, "hourly_new", "0 * * * *", { missedFire: "catch_up" });
    await declare(sql, "minutely_new", "* * * * *", { missedFire: "catch_up" });
    const [{ created }] = await sql<{ created: Date }[]>`
      SELECT created_at AS created FROM awa.cron_jobs WHERE name = 'minutely_new'`;
    const now = new Date(created.getTime() + 1000);
    await evaluate(sql, now);
    const hourStart = Math.floor((created.getTime() - 60_000) / 3_600_000) * 3_600_000;
    assert.deepEqual(
      await fireTimesOf(sql, "hourly_new"),
      hourStart + 3_600_000 <= now.getTime() ? [new Date(hourStart + 3_600_000).toISOString()] : [],
      "no backfill of earlier hours",
    );
    const minutely = await fireTimesOf(sql, "minutely_new");
    assert.equal(minutely.length, 1, "one fire, the latest");
    assert.equal(minutely[0], new Date(Math.floor(now.getTime() / 60_000) * 60_000).toISOString());
    await sql`DELETE FROM awa.cron_jobs`;
  },
});

Deno.test({
  name: "two evaluations of the same read: the second fires nothing (compare-and-swap)",
  ...POOL_TEST,
  async fn() {
    await declare(sql, "cas", "* * * * * *");
    const last = await setLastFire(sql, "cas", 10);
    const [read] = await readCronCandidates(store);
    const fire = [new Date(last.getTime() + 10_000)];
    const [a, b] = await Promise.all([
      fireCronJob(store, "cas", read.last_enqueued_at, fire),
      fireCronJob(store, "cas", read.last_enqueued_at, fire),
    ]);
    assert.equal(a.length + b.length, 1, "exactly one of two racing fires enqueues");
    assert.deepEqual(await fireCronJob(store, "cas", read.last_enqueued_at, fire), []);
    assert.equal((await jobsOf(sql, "cas")).length, 1);

    // Paused meanwhile: the fire does nothing either.
    await sql`UPDATE awa.cron_jobs SET paused_at = now() WHERE name = 'cas'`;
    const [{ text }] = await sql<{ text: string }[]>`
      SELECT to_char(last_enqueued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS text
      FROM awa.cron_jobs WHERE name = 'cas'`;
    assert.deepEqual(
      await fireCronJob(store, "cas", text, [new Date(fire[0].getTime() + 1000)]),
      [],
    );
    assert.equal((await jobsOf(sql, "cas")).length, 1);
    await sql`DELETE FROM awa.cron_jobs`;
  },
});

Deno.test({
  name: "a fire whose job insert fails leaves the last fire unchanged; sub-ms last fires work",
  ...POOL_TEST,
  async fn() {
    await declare(sql, "broken_kind", "* * * * * *");
    const last = await setLastFire(sql, "broken_kind", 5);
    // A kind no insert accepts, written behind the validation's back.
    await sql`UPDATE awa.cron_jobs SET kind = '.bad' WHERE name = 'broken_kind'`;
    await assert.rejects(evaluateCron(store));
    assert.equal((await lastFire("broken_kind"))?.getTime(), last.getTime(), "rolled back");
    assert.deepEqual(await jobsOf(sql, "broken_kind"), []);

    // A last fire with microseconds (set by hand) is compared exactly, so it still fires.
    await sql`UPDATE awa.cron_jobs SET kind = 'cron_tick',
      last_enqueued_at = clock_timestamp() - interval '3.000123 seconds' WHERE name = 'broken_kind'`;
    assert.equal((await evaluateCron(store)).fired, 1);
    assert.equal((await jobsOf(sql, "broken_kind")).length, 1);
    await sql`DELETE FROM awa.cron_jobs`;
  },
});

Deno.test({
  name: "coalesce owes every fire that came due since the previous pass (evaluation jitter)",
  ...POOL_TEST,
  async fn() {
    await declare(sql, "jitter", "* * * * * *");
    const last = await setLastFire(sql, "jitter", 0);
    const t0 = last.getTime();
    // Passes at +0.99 s and then 1.02 s later: two seconds came due between them.
    assert.equal((await evaluate(sql, new Date(t0 + 990))).fired, 0);
    const pass = await evaluateCron(store, {
      now: new Date(t0 + 2010),
      previous: new Date(t0 + 990),
    });
    assert.equal(pass.fired, 2);
    assert.deepEqual(await fireTimesOf(sql, "jitter"), [
      new Date(t0 + 1000).toISOString(),
      new Date(t0 + 2000).toISOString(),
    ]);
    // Without a recent previous pass (a new leader), missed fires coalesce into the latest.
    assert.equal((await evaluate(sql, new Date(t0 + 6500))).fired, 1);
    assert.equal((await fireTimesOf(sql, "jitter")).at(-1), new Date(t0 + 6000).toISOString());
    // With one, only the fires since it count as on time; older ones were missed.
    const p2 = await evaluateCron(store, {
      now: new Date(t0 + 12_000),
      previous: new Date(t0 + 10_500),
    });
    assert.equal(p2.fired, 2, "11 s and 12 s; 7 s to 10 s were missed and coalesced away");
    assert.deepEqual((await fireTimesOf(sql, "jitter")).slice(-2), [
      new Date(t0 + 11_000).toISOString(),
      new Date(t0 + 12_000).toISOString(),
    ]);
    await sql`DELETE FROM awa.cron_jobs`;
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
