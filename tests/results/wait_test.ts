/**
 * insertAndWait and waitForJob across processes: the worker runs in a child process
 * (worker_child.ts), the waiter here. Results, failures, cancels, timeouts, an aborted wait,
 * a notification suppressed on purpose (the poll answers), a killed LISTEN connection, a wait
 * for a job that already ended, and the refusals (a transaction, bad options) that write nothing.
 */
import assert from "node:assert/strict";
import {
  defineJob,
  insert,
  insertAndWait,
  JobFailedError,
  JobNotFoundError,
  JobWaitTimeoutError,
  MAX_RESULT_BYTES,
  TransactionStateError,
  ValidationError,
  waitForJob,
} from "../../mod.ts";
import { getJob } from "../../admin.ts";
import { Notifier } from "../../src/db/notifier.ts";
import { SQL_FILES } from "../../src/migrations_embedded.ts";
import { render } from "../../src/storage/store.ts";
import { testDatabase } from "../support/db.ts";
import { Fixture, POOL_TEST } from "../support/runtime.ts";
import { big, echo, fail, selfCancel, slow } from "./jobs.ts";

const t = await testDatabase("results_wait");
const sql = t.sql;
const worker = new Fixture("../results/worker_child.ts", [t.url]);
const { pid: workerPid } = await worker.line((l) => l.ready === true);

async function jobCount(kind: string): Promise<number> {
  const [{ n }] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM awa.jobs WHERE kind = ${kind}`;
  return n;
}

Deno.test("the result of a job run by another process comes back typed", POOL_TEST, async () => {
  const r = await insertAndWait(sql, echo, { n: 21 });
  assert.equal(r.doubled, 42);
  assert.equal(r.pid, workerPid);
  assert.notEqual(r.pid, Deno.pid);
});

Deno.test(
  "the notification answers: a poll once a minute would miss the timeout",
  POOL_TEST,
  async () => {
    for (let n = 0; n < 5; n++) {
      const r = await insertAndWait(sql, echo, { n }, {
        pollIntervalMs: 60_000,
        timeoutMs: 20_000,
      });
      assert.equal(r.doubled, 2 * n);
    }
  },
);

Deno.test("many concurrent waits each get their own result", POOL_TEST, async () => {
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, n) => insertAndWait(sql, echo, { n }, { timeoutMs: 30_000 })),
  );
  assert.deepEqual(results.map((r) => r.doubled), Array.from({ length: 50 }, (_, n) => 2 * n));
});

Deno.test(
  "a failure rejects with JobFailedError carrying the job's errors",
  POOL_TEST,
  async () => {
    const err = await insertAndWait(sql, fail, { why: "bad input" }).then(
      () => assert.fail("resolved"),
      (e) => e,
    );
    assert.ok(err instanceof JobFailedError);
    assert.equal(err.code, "JOB_FAILED");
    assert.equal(err.state, "failed");
    assert.equal(err.errors.length, 1, "a terminal error ends the job at its first attempt");
    assert.match(err.errors[0].error, /TerminalError: refused: bad input/);
    assert.match(err.message, /refused: bad input/);
    assert.equal((await getJob(sql, err.jobId)).state, "failed");
  },
);

Deno.test("a cancel by the handler rejects with JOB_WAS_CANCELLED", POOL_TEST, async () => {
  const err = await insertAndWait(sql, selfCancel, { reason: "no stock" }).catch((e) => e);
  assert.ok(err instanceof JobFailedError);
  assert.equal(err.code, "JOB_WAS_CANCELLED");
  assert.match(err.errors.at(-1)!.error, /no stock/);
});

Deno.test(
  "a result over the cap fails the job for good with a clear error",
  POOL_TEST,
  async () => {
    // A JSON string is its characters plus two quotes.
    assert.equal(
      await insertAndWait(sql, big, { chars: MAX_RESULT_BYTES - 2 }).then((s) => s.length),
      MAX_RESULT_BYTES - 2,
    );
    const err = await insertAndWait(sql, big, { chars: MAX_RESULT_BYTES - 1 }).catch((e) => e);
    assert.ok(err instanceof JobFailedError);
    assert.equal(err.code, "JOB_FAILED");
    assert.equal(err.errors.length, 1, "terminal: no retry");
    assert.match(
      err.errors[0].error,
      new RegExp(
        `ResultTooLargeError: .*${MAX_RESULT_BYTES + 1} bytes .* limit of ${MAX_RESULT_BYTES}`,
      ),
    );
    assert.equal((await getJob(sql, err.jobId)).result, null, "nothing of the result is stored");
  },
);

Deno.test(
  "a timeout rejects with JobWaitTimeoutError; the job keeps running and can be waited for again",
  POOL_TEST,
  async () => {
    const err = await insertAndWait(sql, slow, { ms: 1500 }, { timeoutMs: 200 }).catch((e) => e);
    assert.ok(err instanceof JobWaitTimeoutError, String(err));
    assert.equal(err.code, "JOB_WAIT_TIMEOUT");
    assert.ok(["available", "running"].includes(err.lastState), err.lastState);
    const [{ n }] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM awa.job_waiters WHERE job_id = ${err.jobId}`;
    assert.equal(n, 0, "the timed-out waiter removed its registration");
    assert.equal(await waitForJob(sql, slow, err.jobId, { timeoutMs: 20_000 }), "slept");
  },
);

Deno.test(
  "an aborted wait rejects with the signal's reason; the job still completes",
  POOL_TEST,
  async () => {
    const ac = new AbortController();
    const reason = new Error("caller went away");
    setTimeout(() => ac.abort(reason), 100);
    const err = await insertAndWait(sql, slow, { ms: 500 }, { signal: ac.signal }).catch((e) => e);
    assert.equal(err, reason);
    const [{ id }] = await sql<{ id: string }[]>`
    SELECT max(id)::text AS id FROM awa.jobs WHERE kind = ${slow.kind}`;
    assert.equal(await waitForJob(sql, Number(id), { timeoutMs: 20_000 }), "slept");
  },
);

Deno.test("a suppressed notification is covered by the poll", POOL_TEST, async () => {
  const original = SQL_FILES.find((f) => f.file === "functions/results/notify_waiters")!.sql;
  // Transitions still delete the registrations, but send nothing.
  await sql.unsafe(`CREATE OR REPLACE FUNCTION awa.notify_waiters(p_job_ids bigint[])
    RETURNS int LANGUAGE sql VOLATILE STRICT AS $$
      WITH gone AS (DELETE FROM awa.job_waiters WHERE job_id = ANY (p_job_ids) RETURNING 1)
      SELECT 0 FROM (SELECT count(*) FROM gone) g $$`);
  try {
    const quick = await insertAndWait(sql, echo, { n: 5 }, { pollIntervalMs: 100 });
    assert.equal(quick.doubled, 10);
    // With no poll before the deadline, only the last look at the deadline answers: the
    // suppression is real, and a wait never ends without that last look.
    const started = performance.now();
    const slowest = await insertAndWait(sql, echo, { n: 6 }, {
      pollIntervalMs: 60_000,
      timeoutMs: 2000,
    });
    assert.equal(slowest.doubled, 12);
    assert.ok(performance.now() - started >= 2000, "answered by the look at the deadline");
  } finally {
    await sql.unsafe(render(original, "awa"));
  }
});

Deno.test(
  "a killed LISTEN connection is replaced and the wait still answers",
  POOL_TEST,
  async () => {
    const j = await insert(sql, slow, { ms: 1500 });
    const waiting = waitForJob(sql, slow, j.id, { pollIntervalMs: 60_000, timeoutMs: 30_000 });
    const stats = () => new Notifier(sql, "awa").stats();
    let pid: number | null = null;
    for (let i = 0; i < 200 && (pid = stats().backendPid) === null; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(pid !== null, "the wait listens");
    await sql`SELECT pg_terminate_backend(${pid})`;
    assert.equal(await waiting, "slept");
  },
);

Deno.test(
  "waitForJob on a job that already ended answers at once, typed or not",
  POOL_TEST,
  async () => {
    const j = await insert(sql, echo, { n: 4 });
    assert.equal((await waitForJob(sql, echo, j.id)).doubled, 8);
    const again = await waitForJob(sql, j.id, { pollIntervalMs: 60_000, timeoutMs: 5000 });
    assert.deepEqual(again, { doubled: 8, pid: workerPid });
    assert.deepEqual((await getJob(sql, j.id)).result, { doubled: 8, pid: workerPid });
    await assert.rejects(waitForJob(sql, slow, j.id), ValidationError, "another kind is refused");
    await assert.rejects(waitForJob(sql, 987654321), JobNotFoundError);
  },
);

Deno.test("inside a transaction insertAndWait refuses and inserts nothing", POOL_TEST, async () => {
  const before = await jobCount(echo.kind);
  await assert.rejects(
    sql.begin((tx) => insertAndWait(tx, echo, { n: 1 })),
    TransactionStateError,
  );
  assert.equal(await jobCount(echo.kind), before);
});

Deno.test("bad arguments throw ValidationError and insert nothing", POOL_TEST, async () => {
  const before = await jobCount(echo.kind);
  const bad: [unknown, string][] = [
    [{ timeoutMs: 0 }, "opts.timeoutMs"],
    [{ timeoutMs: 1.5 }, "opts.timeoutMs"],
    [{ pollIntervalMs: 1 }, "opts.pollIntervalMs"],
    [{ signal: "stop" }, "opts.signal"],
    [{ onConflict: "skip" }, "opts.onConflict"],
    [{ priority: 9 }, "opts.priority"],
    [{ schema: "no such!" }, "opts.schema"],
  ];
  for (const [opts, field] of bad) {
    const err = await insertAndWait(sql, echo, { n: 1 }, opts as never).catch((e) => e);
    assert.ok(err instanceof ValidationError, `${JSON.stringify(opts)}: ${err}`);
    assert.equal(err.field, field);
  }
  await assert.rejects(waitForJob(sql, -1), ValidationError);
  await assert.rejects(waitForJob(sql, 1, { timeoutMs: -5 }), ValidationError);
  await assert.rejects(
    waitForJob(sql, { kind: 3 } as never, 1),
    ValidationError,
  );
  const aborted = AbortSignal.abort(new Error("already"));
  await assert.rejects(insertAndWait(sql, echo, { n: 1 }, { signal: aborted }), /already/);
  assert.equal(await jobCount(echo.kind), before);
  // A definition from another kind with the same queue is still just a definition.
  assert.equal(defineJob("rr.other").kind, "rr.other");
});

Deno.test({
  name: "stop the worker and close the database",
  ...POOL_TEST,
  async fn() {
    await worker.stop();
    await t.close();
  },
});
