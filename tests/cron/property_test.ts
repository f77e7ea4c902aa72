/**
 * Property (the AwaCron model against the real engine): up to four evaluators, each on its own
 * connection and with its own clock, race passes of `evaluateCron` (the real `fire_cron_job`)
 * over one schedule, between generated pauses, resumes and manual triggers. After every run: no
 * fire time has two jobs, every job is a fire of the expression no later than the latest clock,
 * the last fire is the latest job's, catch_up left no fire out, a pass while paused enqueued
 * nothing, and manual triggers never moved the timetable.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { evaluateCron } from "../../src/cron/evaluate.ts";
import { parseCron } from "../../src/cron/fire_times.ts";
import { toExecutor } from "../../src/db/executor.ts";
import { storeOf } from "../../src/storage/store.ts";
import { triggerCronJob } from "../../admin.ts";
import { fcSettings } from "../../correctness/property/run.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";
import { declare, fireTimesOf, jobsOf } from "../support/cron.ts";

const t = await testDatabase("cron_property");
const sql = t.sql;
const T0 = Date.parse("2026-01-01T00:00:00Z");

type Step =
  | { op: "race"; advance: number; skew: number[] }
  | { op: "pause" }
  | { op: "resume" }
  | { op: "trigger" };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("race" as const),
      advance: fc.integer({ min: 0, max: 7000 }),
      skew: fc.array(fc.integer({ min: -1500, max: 1500 }), { minLength: 2, maxLength: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "pause" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "resume" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "trigger" as const }) },
);

const runArb = fc.record({
  expression: fc.constantFrom("* * * * * *", "*/2 * * * * *", "*/5 * * * * *", "3-9 * * * * *"),
  policy: fc.constantFrom("coalesce" as const, "catch_up" as const),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 12 }),
});

Deno.test({
  name:
    "property: racing evaluators never fire twice, never fire early, never lose a catch_up fire",
  ...POOL_TEST,
  async fn() {
    const pools = Array.from({ length: 4 }, () => t.connect({ max: 1 }));
    const stores = pools.map((p) => storeOf(toExecutor(p), "awa"));
    const { seed, numRuns } = fcSettings("cron_property", 4242, 40);
    let run = 0;
    let races = 0;
    let lost = 0;
    await fc.assert(
      fc.asyncProperty(runArb, async ({ expression, policy, steps }) => {
        const name = `p${run++}`;
        await sql`DELETE FROM awa.cron_jobs`;
        await declare(sql, name, expression, { missedFire: policy });
        await sql`UPDATE awa.cron_jobs SET last_enqueued_at = ${new Date(T0)} WHERE name = ${name}`;
        let clock = T0;
        let maxNow = T0;
        let paused = false;
        let triggers = 0;
        for (const step of steps) {
          if (step.op === "pause" || step.op === "resume") {
            paused = step.op === "pause";
            await sql`UPDATE awa.cron_jobs SET paused_at = ${paused ? new Date() : null}
              WHERE name = ${name}`;
          } else if (step.op === "trigger") {
            await triggerCronJob(sql, name);
            triggers++;
          } else {
            clock += step.advance;
            const before = (await jobsOf(sql, name)).length;
            const passes = await Promise.all(step.skew.map((s, i) => {
              const now = new Date(Math.max(T0, clock + s));
              maxNow = Math.max(maxNow, now.getTime());
              return evaluateCron(stores[i], { now });
            }));
            races++;
            lost += passes.reduce((n, p) => n + p.lost, 0);
            if (paused) {
              assert.equal((await jobsOf(sql, name)).length, before, "a paused schedule fired");
            }
          }
        }
        const jobs = await jobsOf(sql, name);
        const fires = await fireTimesOf(sql, name);
        assert.equal(new Set(fires).size, fires.length, `a fire twice: ${fires}`);
        assert.deepEqual([...fires].sort(), fires, "fires enqueued in order");
        assert.equal(jobs.filter((j) => j.manual).length, triggers);
        const cron = parseCron(expression, "UTC", "expression");
        const schedule: string[] = [];
        for (let d = cron.nextRun(new Date(T0)); d !== null && d.getTime() <= maxNow;) {
          schedule.push(d.toISOString());
          d = cron.nextRun(d);
        }
        const allowed = new Set(schedule);
        for (const f of fires) assert.ok(allowed.has(f), `${f} is no fire of ${expression} yet`);
        const [{ last }] = await sql<{ last: Date }[]>`
          SELECT last_enqueued_at AS last FROM awa.cron_jobs WHERE name = ${name}`;
        assert.equal(last.toISOString(), fires.at(-1) ?? new Date(T0).toISOString());
        if (policy === "catch_up") {
          assert.deepEqual(fires, schedule.filter((f) => f <= last.toISOString()), "none left out");
        }
      }),
      { seed, numRuns, endOnFailure: true },
    );
    console.log(`${run} runs, ${races} races of 2-4 evaluators, ${lost} fires lost to the CAS`);
    assert.ok(lost > 0, "the runs raced evaluators on the same read");
    await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
