import assert from "node:assert/strict";
import pg from "pg";
import { Client, defineJob, fromPg, insert, TerminalError, ValidationError } from "../../mod.ts";
import {
  assertEnqueued,
  drainQueue,
  enqueuedJobs,
  handle,
  NotEnqueuedError,
  testClientOptions,
} from "../../testing.ts";
import { POOL_TEST, testDatabase } from "../support/db.ts";

const t = await testDatabase("testing_kit");
const opts = POOL_TEST;
const welcome = defineJob<{ to: string; plan: string }>("welcome_email", { queue: "kit_email" });

Deno.test(
  "assertEnqueued sees the caller's uncommitted insert, and nothing after rollback",
  opts,
  async () => {
    const rolledBack = new Error("roll back");
    await assert.rejects(
      t.sql.begin(async (tx) => {
        await insert(tx, welcome, { to: "tx@example.com", plan: "pro" });
        const [job] = await assertEnqueued(tx, welcome, { args: { to: "tx@example.com" } });
        assert.equal(job?.args.plan, "pro");
        assert.equal(job?.state, "available");
        // Another connection does not see it yet.
        assert.deepEqual(
          await enqueuedJobs(t.sql, welcome, { args: { to: "tx@example.com" } }),
          [],
        );
        throw rolledBack;
      }),
      rolledBack,
    );
    await assert.rejects(
      assertEnqueued(t.sql, welcome, { args: { to: "tx@example.com" } }),
      (err: unknown) => err instanceof NotEnqueuedError && err.code === "NOT_ENQUEUED",
    );
  },
);

Deno.test(
  "assertEnqueued inside a node-postgres transaction sees its uncommitted insert",
  opts,
  async () => {
    const client = new pg.Client({ connectionString: t.url });
    await client.connect();
    try {
      await client.query("BEGIN");
      const db = fromPg(client, { inTransaction: true });
      await insert(db, welcome, { to: "pg@example.com", plan: "team" });
      await assertEnqueued(db, welcome, { args: { to: "pg@example.com" }, count: 1 });
      await client.query("ROLLBACK");
      await assertEnqueued(db, welcome, { args: { to: "pg@example.com" }, count: 0 });
    } finally {
      await client.end();
    }
  },
);

Deno.test("assertEnqueued matches args by containment, queue, states and count", opts, async () => {
  await insert(t.sql, welcome, { to: "m@example.com", plan: "free" });
  await insert(t.sql, welcome, { to: "m@example.com", plan: "pro" });
  assert.equal((await assertEnqueued(t.sql, welcome, { args: { to: "m@example.com" } })).length, 2);
  await assertEnqueued(t.sql, "welcome_email", { args: { to: "m@example.com" }, count: 2 });
  await assertEnqueued(t.sql, welcome, { queue: "kit_email", states: ["available"] });
  await assert.rejects(
    assertEnqueued(t.sql, welcome, { args: { to: "m@example.com" }, count: 1 }),
    /exactly 1 job\(s\) of kind "welcome_email".*found 2/,
  );
  await assert.rejects(
    assertEnqueued(t.sql, welcome, { args: { to: "m@example.com" }, states: ["completed"] }),
    NotEnqueuedError,
  );
  await assert.rejects(assertEnqueued(t.sql, welcome, { queue: "elsewhere" }), NotEnqueuedError);
});

Deno.test("testing kit validates its arguments", opts, async () => {
  await assert.rejects(assertEnqueued(t.sql, {} as never), ValidationError);
  await assert.rejects(
    assertEnqueued(t.sql, welcome, { arg: {} } as never),
    (err: unknown) => err instanceof ValidationError && err.field === "match.arg",
  );
  await assert.rejects(
    assertEnqueued(t.sql, welcome, { states: ["done" as never] }),
    ValidationError,
  );
  await assert.rejects(drainQueue(t.sql, { queue: "kit_email" }), /exactly one of handlers/);
  await assert.rejects(
    drainQueue(t.sql, { queue: "bad queue!", handlers: [] }),
    (err: unknown) => err instanceof ValidationError && err.field === "options.queue",
  );
  assert.throws(() => testClientOptions(null as never), ValidationError);
});

Deno.test(
  "drainQueue runs every job, follow-ups included, and reports each outcome",
  opts,
  async () => {
    const queue = "kit_drain";
    const signup = defineJob<{ to: string }>("kit_signup", { queue, maxAttempts: 3 });
    const reminder = defineJob<{ to: string }>("kit_reminder", { queue });
    await insert(t.sql, signup, { to: "ok@example.com" });
    await insert(t.sql, signup, { to: "terminal@example.com" });
    await insert(t.sql, signup, { to: "flaky@example.com" });
    const outcomes = await drainQueue(t.sql, {
      queue,
      handlers: [
        handle(signup, async (job) => {
          if (job.args.to.startsWith("terminal")) throw new TerminalError("bad address");
          if (job.args.to.startsWith("flaky")) throw new Error("mailer down");
          await insert(t.sql, reminder, { to: job.args.to });
          return { sent: job.args.to };
        }),
        handle(reminder, () => undefined),
      ],
    });
    const byTo = (to: string, kind: string) =>
      outcomes.filter((o) => (o.args as { to: string }).to === to && o.kind === kind);
    assert.deepEqual(byTo("ok@example.com", "kit_signup").map((o) => [o.outcome, o.result]), [
      ["completed", { sent: "ok@example.com" }],
    ]);
    assert.deepEqual(byTo("ok@example.com", "kit_reminder").map((o) => o.outcome), ["completed"]);
    const [terminal] = byTo("terminal@example.com", "kit_signup");
    assert.equal(terminal?.outcome, "failed");
    assert.match(terminal?.error ?? "", /bad address/);
    // A retry waits out its backoff: the drain ends with it pending.
    const [flaky] = byTo("flaky@example.com", "kit_signup");
    assert.equal(flaky?.outcome, "retried");
    assert.equal(flaky?.attempt, 1);
    assert.equal(outcomes.length, 4);
    await assertEnqueued(t.sql, signup, {
      args: { to: "flaky@example.com" },
      states: ["retryable"],
    });
  },
);

Deno.test("drainQueue starts and stops a client the caller configured", opts, async () => {
  const queue = "kit_own";
  const ping = defineJob<{ n: number }>("kit_ping", { queue });
  for (let n = 0; n < 5; n++) await insert(t.sql, ping, { n });
  const client = new Client(t.sql, testClientOptions({ queues: { [queue]: { maxWorkers: 2 } } }));
  const seen: number[] = [];
  client.work(ping, (job) => {
    seen.push(job.args.n);
  });
  const outcomes = await drainQueue(t.sql, { queue, client });
  assert.deepEqual(seen.sort(), [0, 1, 2, 3, 4]);
  assert.equal(outcomes.filter((o) => o.outcome === "completed").length, 5);
  await assert.rejects(client.start(), /start\(\) may be called once/);
});

Deno.test("close testing kit database", opts, async () => {
  await t.close();
});
