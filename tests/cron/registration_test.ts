/**
 * Declaring schedules: every bad expression, time zone, 7-field pattern or option throws a
 * ValidationError naming the field at `client.cron(…)`, before `start()` could write anything;
 * `start()` upserts the declared schedules, and sync never deletes or touches the server-side
 * columns (last fire, pause, created_at).
 */
import assert from "node:assert/strict";
import { Client, ClientStateError, defineJob, ValidationError } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";
import { cronTick } from "../support/cron.ts";

const t = await testDatabase("cron_registration");
const sql = t.sql;
const noLeader = { maintenance: false } as const;

async function rows() {
  return await sql<
    {
      name: string;
      cron_expr: string;
      timezone: string;
      queue: string;
      priority: number;
      max_attempts: number;
      tags: string[];
      metadata: Record<string, unknown>;
      args: Record<string, unknown>;
      missed_fire_policy: string;
      last_enqueued_at: Date | null;
      paused_by: string | null;
      updated_at: Date;
      created_at: Date;
    }[]
  >`SELECT * FROM awa.cron_jobs ORDER BY name`;
}

Deno.test({
  name: "bad expressions, time zones, 7-field patterns and options throw at registration",
  ...POOL_TEST,
  async fn() {
    const client = new Client(t.connect(), { queues: { cron_side: {} }, ...noLeader });
    const strict = defineJob<{ n: number }>("strict", {
      validate: (a) => {
        if (a.n < 0) throw new Error("n must not be negative");
      },
    });
    const cases: [() => unknown, string, RegExp?][] = [
      [() => client.cron("a", "61 * * * *", cronTick, {}), 'cron["a"].expression', /minute/],
      [() => client.cron("a", "* * * *", cronTick, {}), 'cron["a"].expression', /4 fields/],
      [() => client.cron("a", "", cronTick, {}), 'cron["a"].expression'],
      [() => client.cron("a", "every day", cronTick, {}), 'cron["a"].expression'],
      [() => client.cron("a", "0 0 30 2 *", cronTick, {}), 'cron["a"].expression', /never/],
      [
        () => client.cron("a", "0 0 0 1 1 * 2030", cronTick, {}),
        'cron["a"].expression',
        /7 fields.*year/,
      ],
      [
        () => client.cron("a", "* * * * *", cronTick, {}, { timezone: "Mars/Olympus" }),
        'cron["a"].options.timezone',
        /unknown time zone/,
      ],
      [
        () => client.cron("a", "* * * * *", cronTick, {}, { timeZone: "UTC" } as never),
        'cron["a"].options.timeZone',
        /unknown option/,
      ],
      [
        () => client.cron("a", "* * * * *", cronTick, {}, { priority: 9 }),
        'cron["a"].options.priority',
      ],
      [
        () => client.cron("a", "* * * * *", cronTick, {}, { maxAttempts: 0 }),
        'cron["a"].options.maxAttempts',
      ],
      [
        () => client.cron("a", "* * * * *", cronTick, {}, { missedFire: "skip" as never }),
        'cron["a"].options.missedFire',
      ],
      [
        () => client.cron("a", "* * * * *", cronTick, {}, { metadata: { cron_name: "x" } }),
        'cron["a"].options.metadata.cron_name',
      ],
      [
        () => client.cron("a", "* * * * *", cronTick, {}, { queue: "bad queue" }),
        'cron["a"].options.queue',
      ],
      [
        () => client.cron("a", "* * * * *", cronTick, {}, { tags: "x" as never }),
        'cron["a"].options.tags',
      ],
      [() => client.cron("a", "* * * * *", cronTick, undefined as never), 'cron["a"].args'],
      [() => client.cron("a", "* * * * *", strict, { n: -1 }), 'cron["a"].args', /negative/],
      [() => client.cron("bad name", "* * * * *", cronTick, {}), 'cron["bad name"].name'],
      [() => client.cron("a", "* * * * *", {} as never, {}), 'cron["a"].job'],
    ];
    for (const [declare, field, message] of cases) {
      assert.throws(
        declare,
        (e: unknown) =>
          e instanceof ValidationError && e.code === "VALIDATION" && e.field === field &&
          (message === undefined || message.test(e.message)),
        field,
      );
    }
    client.cron("ok", "*/5 * * * * *", cronTick, {});
    assert.throws(
      () => client.cron("ok", "* * * * *", cronTick, {}),
      (e: unknown) => e instanceof ValidationError && /already declared/.test(e.message),
    );
    await client.start();
    try {
      assert.throws(() => client.cron("late", "* * * * *", cronTick, {}), ClientStateError);
      assert.deepEqual((await rows()).map((r) => r.name), ["ok"], "only the good schedule");
    } finally {
      await client.shutdown({ timeoutMs: 500 });
    }
    await sql`DELETE FROM awa.cron_jobs`;
  },
});

Deno.test({
  name: "start upserts schedules with defaults from the job; sync never deletes or resets state",
  ...POOL_TEST,
  async fn() {
    const report = defineJob<{ kind: string }>("report", {
      queue: "reports",
      priority: 3,
      maxAttempts: 5,
      tags: ["nightly"],
    });
    const a = new Client(t.connect(), { queues: { cron_side: {} }, ...noLeader });
    a.cron("nightly", "30 2 * * *", report, { kind: "sales" }, {
      timezone: "America/New_York",
      metadata: { team: "bi" },
    });
    await a.start();
    await a.shutdown({ timeoutMs: 500 });
    const [r] = await rows();
    assert.deepEqual(
      {
        name: r.name,
        cron_expr: r.cron_expr,
        timezone: r.timezone,
        queue: r.queue,
        priority: r.priority,
        max_attempts: r.max_attempts,
        tags: r.tags,
        args: r.args,
        metadata: r.metadata,
        missed_fire_policy: r.missed_fire_policy,
      },
      {
        name: "nightly",
        cron_expr: "30 2 * * *",
        timezone: "America/New_York",
        queue: "reports",
        priority: 3,
        max_attempts: 5,
        tags: ["nightly"],
        args: { kind: "sales" },
        metadata: { team: "bi" },
        missed_fire_policy: "coalesce",
      },
    );

    // State written on the server side survives a re-sync that changes the definition.
    await sql`UPDATE awa.cron_jobs SET last_enqueued_at = '2026-01-01T07:30:00Z',
      paused_at = now(), paused_by = 'ops'`;
    const b = new Client(t.connect(), { queues: { cron_side: {} }, ...noLeader });
    b.cron("nightly", "45 2 * * *", report, { kind: "sales" }, {
      timezone: "America/New_York",
      missedFire: "catch_up",
    });
    b.cron("hourly", "0 * * * *", cronTick, {});
    await b.start();
    await b.shutdown({ timeoutMs: 500 });
    const [hourly, nightly] = await rows();
    assert.equal(hourly.name, "hourly");
    assert.equal(nightly.cron_expr, "45 2 * * *");
    assert.equal(nightly.missed_fire_policy, "catch_up");
    assert.deepEqual(nightly.metadata, {});
    assert.equal(nightly.last_enqueued_at?.toISOString(), "2026-01-01T07:30:00.000Z");
    assert.equal(nightly.paused_by, "ops", "a re-sync does not resume a paused schedule");
    assert.equal(nightly.created_at.getTime(), r.created_at.getTime());

    // A client declaring only one schedule deletes none, and an unchanged one is not rewritten.
    const c = new Client(t.connect(), { queues: { cron_side: {} }, ...noLeader });
    c.cron("hourly", "0 * * * *", cronTick, {});
    await c.start();
    await c.shutdown({ timeoutMs: 500 });
    const after = await rows();
    assert.deepEqual(after.map((x) => x.name), ["hourly", "nightly"]);
    assert.equal(after[0].updated_at.getTime(), hourly.updated_at.getTime(), "not rewritten");
    await sql`DELETE FROM awa.cron_jobs`;
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
