/**
 * No double fire across leader failover, with real processes: three client processes declare an
 * every-second schedule for 120 s while the process that leads maintenance is SIGKILLed every
 * 15 s and replaced by a fresh one. Afterwards no `cron_fire_time` appears twice, every fire is a
 * whole second, and every gap (fires missed while no leader ran) ended with one coalesced fire:
 * one job for the latest due fire, enqueued promptly, never a burst of the missed ones.
 *
 * `AWA_CRON_FAILOVER_S` shortens the run while working on it; CI runs the full 120 s.
 */
import assert from "node:assert/strict";
import { testDatabase } from "../support/db.ts";
import { Fixture, POOL_TEST, sleep, waitFor } from "../support/runtime.ts";
import { jobsOf } from "../support/cron.ts";

const t = await testDatabase("cron_failover");
const sql = t.sql;
const RUN_S = Number(Deno.env.get("AWA_CRON_FAILOVER_S") ?? 120);
const KILL_EVERY_S = 15;
const SCHEDULES = JSON.stringify([{ name: "every_second", expression: "* * * * * *" }]);
// A SIGKILLed leader's lock goes as soon as its backend sees the socket close; followers retry
// the election every 200 ms, so a failover costs well under a second.
const TIMINGS = JSON.stringify({
  heartbeat: { intervalMs: 500, stalenessMs: 1500 },
  maintenance: { leader: { electionRetryMs: 200, pingMs: 200 } },
});

let spawned = 0;
async function spawn(): Promise<{ fixture: Fixture; instance: string }> {
  const fixture = new Fixture("cron_worker.ts", [t.url, `p${spawned++}`, SCHEDULES, TIMINGS]);
  const ready = await fixture.line((l) => l.ready === true, 60_000);
  return { fixture, instance: ready.instance as string };
}

/** The instance flagged as leader, once it is one of `live`. */
async function leaderAmong(live: { instance: string }[]): Promise<string> {
  return await waitFor("a live process leads", async () => {
    const rows = await sql<{ id: string }[]>`
      SELECT instance_id::text AS id FROM awa.runtime_instances WHERE leader`;
    const id = rows[0]?.id;
    return id !== undefined && live.some((p) => p.instance === id) ? id : null;
  }, 30_000);
}

Deno.test({
  name: `3 processes, the leader SIGKILLed every ${KILL_EVERY_S} s for ${RUN_S} s: no fire twice`,
  ...POOL_TEST,
  async fn() {
    const live = await Promise.all([spawn(), spawn(), spawn()]);
    const all = [...live];
    const killedAt: number[] = [];
    try {
      await leaderAmong(live);
      const started = Date.now();
      for (let k = 1; k * KILL_EVERY_S < RUN_S; k++) {
        await sleep(Math.max(0, started + k * KILL_EVERY_S * 1000 - Date.now()));
        const leader = await leaderAmong(live);
        const i = live.findIndex((p) => p.instance === leader);
        await live[i].fixture.kill("SIGKILL");
        killedAt.push(Date.now());
        const fresh = await spawn();
        live[i] = fresh;
        all.push(fresh);
      }
      await sleep(Math.max(0, started + RUN_S * 1000 - Date.now()));
    } finally {
      await Promise.all(live.map((p) => p.fixture.stop()));
      await Promise.all(all.map((p) => p.fixture.kill()));
    }

    const jobs = (await jobsOf(sql, "every_second")).filter((j) => j.fireTime !== null);
    const fires = jobs.map((j) => Date.parse(j.fireTime!.replace(" ", "T").replace(/\+00$/, "Z")));
    assert.equal(new Set(fires).size, fires.length, "no cron_fire_time twice");
    assert.ok(fires.every((f) => f % 1000 === 0), "every fire is a whole second");
    const byFire = [...jobs.keys()].sort((a, b) => fires[a] - fires[b]);
    for (let n = 1; n < byFire.length; n++) {
      assert.ok(byFire[n] > byFire[n - 1], "fires are enqueued in order (ids grow with fire time)");
    }
    const gaps: number[] = [];
    const lateness: number[] = [];
    for (let n = 0; n < byFire.length; n++) {
      const j = byFire[n];
      lateness.push(jobs[j].createdAt.getTime() - fires[j]);
      if (n > 0) {
        const gap = fires[j] - fires[byFire[n - 1]];
        if (gap > 1000) {
          gaps.push(gap);
          // Coalesced: the one job after the gap is for the latest due fire, not an old one.
          const late = jobs[j].createdAt.getTime() - fires[j];
          assert.ok(late < 5000, `the fire after a ${gap} ms gap was enqueued ${late} ms late`);
        }
      }
    }
    lateness.sort((a, b) => a - b);
    const pct = (p: number) =>
      lateness[Math.min(lateness.length - 1, Math.floor(p * lateness.length))];
    console.log(
      `${fires.length} fires over ${RUN_S} s, ${killedAt.length} leader kills, ` +
        `${gaps.length} gaps (ms: ${gaps.join(", ") || "none"}), ` +
        `lateness p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, max ${lateness.at(-1)} ms`,
    );
    assert.ok(killedAt.length >= Math.floor((RUN_S - 1) / KILL_EVERY_S));
    assert.ok(gaps.length <= killedAt.length + 2, "gaps come from the failovers");
    assert.ok(gaps.every((g) => g <= 15_000), "every failover resumed firing within 15 s");
    assert.ok(fires.length >= RUN_S / 2, `only ${fires.length} fires in ${RUN_S} s`);
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
