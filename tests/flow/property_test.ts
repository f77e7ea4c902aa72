/**
 * Property (the AwaKeyedClaims model against the real engine): three claimers, each on its own
 * connection, race claim_batch over keyed jobs and finalize each attempt with a generated
 * outcome (complete, retry, snooze, fail); one of them may abandon its attempts (a crash), which
 * a rescuer closes with the rescue path. From an attempts log: running attempts of a key never
 * exceed its limit, at limit 1 a job starts only after every earlier job of its key finished,
 * and every job reaches exactly one terminal state.
 *
 * The log is conservative: an attempt opens when claim_batch has returned (after it committed)
 * and closes just before its finalization (or rescue) is sent, so the logged interval lies inside
 * the real one and a logged overlap is a real overlap.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { defineJob, insertMany } from "../../mod.ts";
import { setConcurrencyLimit } from "../../admin.ts";
import { fcSettings } from "../../correctness/property/run.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";
import { claim, type Claimed, finish, promote } from "./support.ts";

const t = await testDatabase("flow_property");
const sql = t.sql;
const claimers = [t.connect({ max: 1 }), t.connect({ max: 1 }), t.connect({ max: 1 })];

type Outcome = "completed" | "retry" | "snooze" | "fail" | "abandon";

interface Scenario {
  limit: number;
  keys: number[];
  outcomes: Outcome[];
  batch: number[];
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  limit: fc.integer({ min: 1, max: 2 }),
  keys: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 3, maxLength: 12 }),
  outcomes: fc.array(
    fc.constantFrom<Outcome>(
      "completed",
      "completed",
      "completed",
      "retry",
      "snooze",
      "fail",
      "abandon",
    ),
    { minLength: 8, maxLength: 40 },
  ),
  batch: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
});

interface Attempt {
  job: number;
  key: string;
  open: number;
  close: number;
}

let run = 0;

Deno.test({
  name: "keyed claims by three claimers with crashes and rescue keep the per-key limit and order",
  ...POOL_TEST,
  async fn() {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ limit, keys, outcomes, batch }) => {
        const queue = `prop${run++}`;
        await setConcurrencyLimit(sql, queue, limit);
        const def = defineJob<{ n: number }>("prop", { queue, maxAttempts: 3 });
        const { ids } = await insertMany(
          sql,
          def,
          keys.map((k, n) => ({ args: { n }, concurrencyKey: `k${k}` })),
        );
        const keyOf = new Map(ids.map((id, n) => [id!, `k${keys[n]}`]));
        let clock = 0;
        let step = 0;
        const log: Attempt[] = [];
        const abandoned: { c: Claimed; a: Attempt }[] = [];
        const terminal = new Map<number, number>();
        const open = () => ids.length - terminal.size;

        const claimer = async (i: number) => {
          let idle = 0;
          while (open() > 0 && idle < 400) {
            const got = await claim(claimers[i], queue, batch[i]);
            if (got.length === 0) {
              idle++;
              await new Promise((r) => setTimeout(r, 2));
              continue;
            }
            idle = 0;
            const attempts = got.map((c) => ({
              c,
              a: { job: c.job_id, key: c.key!, open: ++clock, close: Infinity },
            }));
            log.push(...attempts.map((x) => x.a));
            for (const x of attempts) {
              const outcome = outcomes[step++ % outcomes.length];
              if (outcome === "abandon" && i === 0) {
                abandoned.push(x);
                continue;
              }
              x.a.close = ++clock;
              const kind = outcome === "abandon" ? "completed" : outcome;
              const states = await finish(
                claimers[i],
                [x.c],
                kind,
                kind === "retry" || kind === "snooze" ? { delay_s: 0 } : {},
              );
              for (const s of states) {
                if (s === "completed" || s === "failed") {
                  terminal.set(x.c.job_id, (terminal.get(x.c.job_id) ?? 0) + 1);
                }
              }
            }
          }
        };
        const housekeeper = async () => {
          let rounds = 0;
          while (open() > 0 && rounds++ < 2000) {
            for (const x of abandoned.splice(0)) {
              // Rescue of the abandoned attempt: the heartbeat kind, due again at once.
              x.a.close = ++clock;
              const states = await finish(sql, [x.c], "rescue_heartbeat", { delay_s: 0 });
              for (const s of states) {
                if (s === "completed" || s === "failed") {
                  terminal.set(x.c.job_id, (terminal.get(x.c.job_id) ?? 0) + 1);
                }
              }
            }
            await promote(sql);
            await new Promise((r) => setTimeout(r, 3));
          }
        };
        await Promise.all([claimer(0), claimer(1), claimer(2), housekeeper()]);

        assert.equal(open(), 0, "every job reached a terminal state");
        for (const n of terminal.values()) assert.equal(n, 1, "exactly one terminal state");
        for (const a of log) {
          const overlapping = log.filter((b) =>
            b.key === a.key && b.open <= a.open && b.close > a.open
          );
          assert.ok(overlapping.length <= limit, `key ${a.key}: ${overlapping.length} > ${limit}`);
        }
        if (limit === 1) {
          const lastClose = new Map<number, number>();
          for (const a of log) lastClose.set(a.job, Math.max(lastClose.get(a.job) ?? 0, a.close));
          for (const a of log) {
            for (const [job, close] of lastClose) {
              if (job < a.job && keyOf.get(job) === a.key) {
                assert.ok(
                  close < a.open,
                  `job ${a.job} started before earlier job ${job} finished`,
                );
              }
            }
          }
        }
        const [{ left }] = await sql<{ left: number }[]>`
          SELECT ((SELECT count(*) FROM awa.key_admissions WHERE queue = ${queue})
            + (SELECT count(*) FROM awa.key_waiting WHERE queue = ${queue}))::int AS left`;
        assert.equal(left, 0, "no slot or waiter left behind");
      }),
      fcSettings("flow keyed claims", 1402, 12),
    );
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
