/**
 * The job policy (src/runtime/policy.ts) and the outcome table (src/runtime/outcomes.ts): the
 * retry backoff and its bounds, the next state after each outcome, the item and the event each
 * outcome becomes, and that awa.finalize_attempts plans items without a state (SQL callers) the
 * way the policy does.
 */
import assert from "node:assert/strict";
import { defineJob, insert, TerminalError, ValidationError } from "../../mod.ts";
import {
  type Decided,
  eventOf,
  finalizeItemOf,
  fromReturned,
  fromThrown,
  outcomeConstructors,
  OUTCOMES,
} from "../../src/runtime/outcomes.ts";
import {
  MAX_BACKOFF_SECONDS,
  type NextState,
  planCancel,
  planComplete,
  planDefer,
  planFail,
  planRetry,
  retryBackoffSeconds,
} from "../../src/runtime/policy.ts";
import type { FinalizedRow } from "../../src/storage/attempts.ts";
import type { Job } from "../../src/runtime/types.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";

/** Close to the top of U's range [0, 1), far enough from 1 that the sum still rounds below. */
const ALMOST_ONE = 0.999_999;

Deno.test("retry backoff: min(2^a + u · 0.25 · 2^a, 24 h), vectors of features §3", () => {
  const vectors: [attempt: number, low: number, high: number][] = [
    [1, 2, 2.5],
    [3, 8, 10],
    [10, 1024, 1280],
    [16, 65_536, 81_920],
  ];
  for (const [a, low, high] of vectors) {
    assert.equal(retryBackoffSeconds(a, 0), low, `attempt ${a}, u = 0`);
    assert.ok(retryBackoffSeconds(a, ALMOST_ONE) < high, `attempt ${a}, u → 1`);
    assert.ok(retryBackoffSeconds(a, ALMOST_ONE) > high - 1e-6 * high, `attempt ${a}, u → 1`);
    for (let i = 0; i < 200; i++) {
      const d = retryBackoffSeconds(a);
      assert.ok(d >= low && d < high, `attempt ${a}: ${d} outside [${low}, ${high})`);
    }
  }
  // The jitter is added before the cap: from attempt 17 on, exactly 24 h.
  for (const a of [17, 30, 31, 1000, 32_767]) {
    assert.equal(retryBackoffSeconds(a, 0), MAX_BACKOFF_SECONDS, `attempt ${a}, u = 0`);
    assert.equal(retryBackoffSeconds(a, ALMOST_ONE), MAX_BACKOFF_SECONDS, `attempt ${a}, u → 1`);
  }
});

Deno.test("next state after each outcome", () => {
  assert.deepEqual(planComplete(), { state: "completed", delaySeconds: null });
  assert.deepEqual(planCancel(), { state: "cancelled", delaySeconds: null });
  assert.deepEqual(planFail(), { state: "failed", delaySeconds: null });
  assert.deepEqual(planDefer(1500), { state: "scheduled", delaySeconds: 1.5 });
  assert.deepEqual(planDefer(0), { state: "scheduled", delaySeconds: 0 });
  // A counted attempt retries while attempts remain, the requested delay or the backoff.
  assert.deepEqual(planRetry(2, 5, 4000), { state: "retryable", delaySeconds: 4 });
  const backoff = planRetry(1, 5, null);
  assert.equal(backoff.state, "retryable");
  assert.ok(backoff.delaySeconds! >= 2 && backoff.delaySeconds! < 2.5, `${backoff.delaySeconds}`);
  // Once attempt >= max_attempts it fails, whatever delay was asked for.
  assert.deepEqual(planRetry(5, 5, 4000), { state: "failed", delaySeconds: null });
  assert.deepEqual(planRetry(6, 5, null), { state: "failed", delaySeconds: null });
  assert.deepEqual(planRetry(1, 1, null), { state: "failed", delaySeconds: null });
});

function fakeJob(attempt: number, maxAttempts: number): Job<unknown> {
  return {
    id: 7,
    kind: "k",
    args: {},
    queue: "q",
    priority: 2,
    attempt,
    maxAttempts,
    tags: [],
    metadata: {},
    insertedAt: new Date(0),
    runAt: new Date(0),
    runLease: 3,
    progress: null,
    errors: [],
    deadlineAt: null,
  };
}

const ref = (job: Job<unknown>) => ({
  claimSlot: 1,
  batchId: "42",
  idx: 5,
  job,
  progress: { percent: 50, message: null, metadata: {} },
});

function row(state: NextState, outcome: string, held: string | null = null): FinalizedRow {
  return {
    job_id: "7",
    run_lease: "3",
    outcome,
    state,
    held,
    run_at: state === "retryable" || state === "scheduled" ? new Date(1000) : null,
  };
}

Deno.test("outcome table: each source decides its entry", () => {
  assert.deepEqual(fromReturned(undefined), {
    name: "complete",
    payload: { result: undefined, json: null },
  });
  const result = { n: 1, at: new Date(0) };
  assert.deepEqual(fromReturned(result).payload, {
    result,
    json: { n: 1, at: "1970-01-01T00:00:00.000Z" },
  });
  assert.throws(() => fromReturned({ n: 1n }), TypeError, "a BigInt result cannot be stored");
  assert.deepEqual(fromThrown(new TerminalError("bad input")), {
    name: "fail",
    payload: { error: "TerminalError: bad input" },
  });
  assert.deepEqual(fromThrown(new Error("boom")), {
    name: "retry",
    payload: { delayMs: null, error: "Error: boom" },
  });
  assert.deepEqual(fromThrown("plain"), {
    name: "retry",
    payload: { delayMs: null, error: "plain" },
  });

  const retry = outcomeConstructors.retryAfter(250);
  assert.deepEqual({ ...retry }, { type: "retry", delayMs: 250 });
  assert.ok(Object.isFrozen(retry));
  assert.deepEqual(fromReturned(retry), { name: "retry", payload: { delayMs: 250 } });
  assert.deepEqual(fromReturned(outcomeConstructors.snooze(10)), {
    name: "snooze",
    payload: { delayMs: 10 },
  });
  assert.deepEqual(fromReturned(outcomeConstructors.cancel("stop")), {
    name: "cancel",
    payload: { reason: "stop" },
  });
  // A look-alike is a result, not an outcome.
  assert.equal(fromReturned({ type: "cancel", reason: "x" }).name, "complete");
  for (const [method, bad] of [["retryAfter", -1], ["snooze", Number.NaN]] as const) {
    assert.throws(
      () => outcomeConstructors[method](bad),
      (e: unknown) => e instanceof ValidationError && e.message.includes(`${method}(ms)`),
    );
  }
});

Deno.test("outcome table: the finalize item of each outcome", () => {
  const job = fakeJob(2, 5);
  const receipt = { claim_slot: 1, batch_id: "42", idx: 5, job_id: 7, run_lease: 3 };
  const progress = ref(job).progress;
  const item = (d: Decided) => finalizeItemOf(ref(job), d);
  assert.deepEqual(item({ name: "complete", payload: { result: 1, json: 1 } }), {
    ...receipt,
    outcome: "completed",
    state: "completed",
    result: 1,
  });
  assert.deepEqual(item({ name: "retry", payload: { delayMs: 3000 } }), {
    ...receipt,
    outcome: "retry",
    state: "retryable",
    delay_s: 3,
    error: "retry requested by handler",
    progress,
  });
  const thrown = item({ name: "retry", payload: { delayMs: null, error: "x".repeat(20_000) } });
  assert.equal(thrown.error!.length, 10_000, "a thrown error's text is capped");
  assert.ok(thrown.delay_s! >= 4 && thrown.delay_s! < 5, "attempt 2 backs off 4–5 s");
  assert.deepEqual(
    finalizeItemOf(ref(fakeJob(5, 5)), { name: "retry", payload: { delayMs: 3000 } }),
    {
      ...receipt,
      outcome: "retry",
      state: "failed",
      error: "retry requested by handler",
      progress,
    },
  );
  assert.deepEqual(item({ name: "snooze", payload: { delayMs: 500 } }), {
    ...receipt,
    outcome: "snooze",
    state: "scheduled",
    delay_s: 0.5,
    progress,
  });
  assert.deepEqual(item({ name: "cancel", payload: { reason: "stop" } }), {
    ...receipt,
    outcome: "cancel",
    state: "cancelled",
    error: "stop",
    progress,
  });
  assert.deepEqual(item({ name: "fail", payload: { error: "TerminalError: no" } }), {
    ...receipt,
    outcome: "fail",
    state: "failed",
    error: "TerminalError: no",
    progress,
  });
  assert.deepEqual(item({ name: "release", payload: {} }), {
    ...receipt,
    outcome: "snooze",
    state: "scheduled",
    delay_s: 0,
    progress,
  });
});

Deno.test("outcome table: the event of each outcome, per state reached", () => {
  const job = fakeJob(2, 5);
  const ev = (d: Decided, state: NextState, held: string | null = null) =>
    eventOf(d, { job, row: row(state, OUTCOMES[d.name].wire, held), durationMs: 12 });
  const complete: Decided = { name: "complete", payload: { result: "r", json: "r" } };
  const asked: Decided = { name: "retry", payload: { delayMs: 5 } };
  const thrown: Decided = { name: "retry", payload: { delayMs: null, error: "Error: e" } };
  const snooze: Decided = { name: "snooze", payload: { delayMs: 5 } };
  const cancel: Decided = { name: "cancel", payload: { reason: "why" } };
  const fail: Decided = { name: "fail", payload: { error: "TerminalError: t" } };
  const release: Decided = { name: "release", payload: {} };
  const runAt = new Date(1000);

  assert.deepEqual(ev(complete, "completed"), {
    name: "completed",
    payload: { job, result: "r", durationMs: 12 },
  });
  assert.deepEqual(ev(asked, "retryable"), {
    name: "retried",
    payload: { job, error: "retry requested by handler", runAt },
  });
  assert.deepEqual(ev(thrown, "retryable"), {
    name: "retried",
    payload: { job, error: "Error: e", runAt },
  });
  assert.deepEqual(ev(thrown, "failed", "dlq"), {
    name: "exhausted",
    payload: { job, error: "Error: e", dlq: true },
  });
  assert.deepEqual(ev(snooze, "scheduled"), { name: "snoozed", payload: { job, runAt } });
  assert.deepEqual(ev(cancel, "cancelled"), { name: "cancelled", payload: { job, reason: "why" } });
  assert.deepEqual(ev(fail, "failed", "failed"), {
    name: "failed",
    payload: { job, error: "TerminalError: t", dlq: false },
  });
  assert.equal(ev(release, "scheduled"), null, "a hand-back emits nothing");
  // SQL cancels a deferred job whose unique key another job holds: reported as cancelled.
  assert.deepEqual(ev(thrown, "cancelled"), {
    name: "cancelled",
    payload: { job, reason: "Error: e" },
  });
  assert.deepEqual(ev(snooze, "cancelled"), { name: "cancelled", payload: { job, reason: "" } });

  // Every state an entry's plan can reach (and cancelled, for deferred ones) has its event.
  for (const [name, spec] of Object.entries(OUTCOMES)) {
    if (name === "release") continue;
    for (const [attempt, max] of [[1, 5], [5, 5]]) {
      const payload = { delayMs: 1, reason: "", error: "", result: null, json: null };
      const planned = (spec.plan as (j: Job<unknown>, p: unknown) => { state: NextState })(
        fakeJob(attempt, max),
        payload,
      ).state;
      const reached = planned === "retryable" || planned === "scheduled"
        ? [planned, "cancelled" as const]
        : [planned];
      for (const state of reached) {
        assert.ok(
          (spec.events as Record<string, unknown>)[state],
          `${name} reaching ${state} has an event`,
        );
      }
    }
  }
});

const t = await testDatabase("runtime_policy");
const sql = t.sql;

/** Claim one fresh job (max_attempts `max`) and return its receipt and claimed attempt. */
async function claimOne(max: number) {
  const def = defineJob<Record<string, never>>("policy_job", {
    queue: "policy",
    maxAttempts: max,
  });
  await insert(sql, def, {});
  const [c] = await sql<
    {
      claim_slot: number;
      batch_id: string;
      idx: number;
      job_id: number;
      run_lease: number;
      attempt: number;
      max_attempts: number;
    }[]
  >`
    SELECT claim_slot, batch_id::text, idx, job_id::int, run_lease::int, attempt, max_attempts
    FROM awa.claim_batch('policy', 1, 300, 60, gen_random_uuid())`;
  return c;
}

const retried: Decided = { name: "retry", payload: { delayMs: null, error: "Error: e" } };
const released: Decided = { name: "release", payload: {} };
/**
 * Outcomes SQL callers send without a state (awa.cancel_job, the rescue items of
 * awa.rescue_candidates, direct calls), which awa.finalize_attempts therefore plans itself, each
 * with the table entry whose plan it must match.
 */
const plannedInSql: [Decided, outcome?: string][] = [
  [{ name: "complete", payload: { result: null, json: null } }],
  [retried],
  [{ name: "snooze", payload: { delayMs: 0 } }],
  [{ name: "cancel", payload: { reason: "r" } }],
  [{ name: "fail", payload: { error: "TerminalError: t" } }],
  [released],
  [released, "rescue_unstarted"],
  [retried, "rescue_heartbeat"],
  [retried, "rescue_deadline"],
];

Deno.test({
  name: "SQL plans an item without a state the way policy.ts does",
  ...POOL_TEST,
  async fn() {
    for (const [d, sqlOutcome] of plannedInSql) {
      for (const max of [1, 5]) {
        const c = await claimOne(max);
        const job = fakeJob(c.attempt, c.max_attempts);
        const tsItem = finalizeItemOf(
          { claimSlot: c.claim_slot, batchId: c.batch_id, idx: c.idx, job, progress: null },
          d,
        );
        const outcome = sqlOutcome ?? tsItem.outcome;
        const { claim_slot, batch_id, idx, job_id, run_lease } = c;
        const raw = [{ claim_slot, batch_id, idx, job_id, run_lease, outcome }];
        const [applied] = await sql<{ state: string }[]>`
          SELECT state FROM awa.finalize_attempts(${JSON.stringify(raw)}::text::jsonb)`;
        assert.equal(applied.state, tsItem.state, `${outcome} as ${d.name}, max_attempts ${max}`);
      }
    }
  },
});

Deno.test({
  name: "SQL backoff_duration (rescue, SQL callers) stays within the policy's bounds",
  ...POOL_TEST,
  async fn() {
    for (const a of [1, 3, 10, 16, 17, 40]) {
      const rows = await sql<{ s: number }[]>`
        SELECT extract(epoch FROM awa.backoff_duration(${a}, 25))::float8 AS s
        FROM generate_series(1, 50)`;
      const low = retryBackoffSeconds(a, 0);
      const high = retryBackoffSeconds(a, 1);
      for (const { s } of rows) {
        assert.ok(s >= low - 1e-6 && s <= high + 1e-6, `attempt ${a}: ${s} ∉ [${low}, ${high}]`);
      }
    }
  },
});

Deno.test({
  name: "an item planning a state no finalization may write is refused and writes nothing",
  ...POOL_TEST,
  async fn() {
    const c = await claimOne(5);
    for (const state of ["running", "available", "waiting_external"]) {
      const items = JSON.stringify([{ ...c, outcome: "completed", state }]);
      await assert.rejects(
        sql`SELECT * FROM awa.finalize_attempts(${items}::text::jsonb)`,
        (e: Error) => e.message.includes("finalize_state"),
        state,
      );
    }
    const items = JSON.stringify([{ ...c, outcome: "completed", state: "completed" }]);
    const rows = await sql`SELECT state FROM awa.finalize_attempts(${items}::text::jsonb)`;
    assert.deepEqual([...rows], [{ state: "completed" }], "the receipt stayed open");
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
