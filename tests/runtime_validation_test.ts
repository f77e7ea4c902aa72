/**
 * Validation of the runtime's options: unknown or misspelt keys, null, Symbol and BigInt
 * values, timer ranges, event names and shutdown options are all rejected with a
 * ValidationError naming the field, and a fast-check sweep over Client constructor options
 * finds no other kind of error.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { AwaError, Client, type ClientOptions, defineJob, ValidationError } from "../mod.ts";
import { testDatabase } from "./support/db.ts";
import { POOL_TEST } from "./runtime_support.ts";

const t = await testDatabase("runtime_validation");
const sql = t.sql;

/** Build a client from untyped options (the sweep and the probes pass nonsense on purpose). */
function make(options: unknown): Client {
  return new Client(sql, options as ClientOptions);
}

function rejects(fn: () => unknown, field: RegExp, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ValidationError, `expected a ValidationError, got ${e}`);
    assert.equal(e.code, "VALIDATION");
    assert.match(e.field, field);
    if (message) assert.match(e.message, message);
    return true;
  });
}

Deno.test({
  name: "unknown or misspelt keys are rejected in every options object",
  ...POOL_TEST,
  async fn() {
    rejects(
      () => make({ queues: { q: { maxWorker: 2 } } }),
      /^queues\.q\.maxWorker$/,
      /maxWorkers/,
    );
    rejects(() => make({ queues: { q: {} }, timing: {} }), /^options\.timing$/, /timings/);
    rejects(
      () => make({ queues: { q: {} }, timings: { heartbeatInterval: 5 } }),
      /^timings\.heartbeatInterval$/,
    );
    rejects(
      () => make({ queues: { q: { rateLimit: { perSecond: 1, brust: 2 } } } }),
      /^queues\.q\.rateLimit\.brust$/,
      /burst/,
    );
    const c = make({ queues: { q: {} } });
    rejects(() => c.shutdown({ timeout: 5 } as never), /timeout$/, /timeoutMs/);
    await c.shutdown();
  },
});

Deno.test({
  name: "null options, timings, rateLimit, queue config and shutdown(null) are ValidationErrors",
  ...POOL_TEST,
  async fn() {
    rejects(() => make(null), /^options$/);
    rejects(() => make({ queues: null }), /^options\.queues$/);
    rejects(() => make({ queues: { q: null } }), /^queues\.q$/);
    rejects(() => make({ queues: { q: {} }, timings: null }), /^timings$/);
    rejects(() => make({ queues: { q: { rateLimit: null } } }), /^queues\.q\.rateLimit$/);
    rejects(() => make({ queues: { q: {} }, maintenance: null }), /^options\.maintenance$/);
    const c = make({ queues: { q: {} } });
    rejects(() => c.shutdown(null as never), /shutdown options/);
    rejects(() => c.shutdown({ timeoutMs: null } as never), /^timeoutMs$/);
    await c.shutdown(undefined);
  },
});

Deno.test({
  name: "Symbol and BigInt values give a ValidationError, not a TypeError from the message",
  ...POOL_TEST,
  fn() {
    const weird = [Symbol("x"), 5n];
    for (const v of weird) {
      rejects(() => make({ queues: { q: { maxWorkers: v } } }), /maxWorkers/);
      rejects(() => make({ queues: { q: { rateLimit: { perSecond: v } } } }), /perSecond/);
      rejects(() => make({ queues: { q: {} }, timings: { promoteIntervalMs: v } }), /promote/);
      rejects(() => make({ queues: { q: {} }, schema: v }), /^options\.schema$/);
      rejects(() => make({ queues: { q: {} }, dlqEnabledByDefault: v }), /dlqEnabledByDefault/);
    }
    rejects(() => make({ queues: { [Symbol("q")]: {} } }), /^options\.queues$/);
    rejects(() => make({ queues: { q: {} }, [Symbol("k")]: 1 }), /^options\.Symbol\(k\)$/);
  },
});

Deno.test({
  name: "timer values are bounded: polls at most an hour, other durations at most a day",
  ...POOL_TEST,
  async fn() {
    const hour = 3_600_000;
    const day = 86_400_000;
    for (const v of [2 ** 31, hour + 1, 0, 9, 1.5, Number.NaN, Infinity, -1]) {
      rejects(() => make({ queues: { q: { pollIntervalMs: v } } }), /pollIntervalMs/);
    }
    make({ queues: { q: { pollIntervalMs: hour } } });
    const timingMax: Record<string, number> = {
      heartbeatIntervalMs: day / 3, // staleness must stay ≥ 3 × interval within its own max
      heartbeatStalenessMs: day,
      promoteIntervalMs: hour,
      rescueIntervalMs: day,
      rotateIntervalMs: hour,
      electionRetryMs: hour,
      leaderPingMs: hour,
      foldIntervalMs: day,
      runtimeStalenessMs: day,
      runtimeSweepIntervalMs: hour,
      listenCheckIntervalMs: hour,
    };
    for (const [k, max] of Object.entries(timingMax)) {
      const ok = k === "heartbeatIntervalMs"
        ? { heartbeatIntervalMs: max, heartbeatStalenessMs: day, runtimeStalenessMs: day }
        : k === "heartbeatStalenessMs"
        ? { heartbeatStalenessMs: max }
        : { [k]: max };
      make({ queues: { q: {} }, timings: ok });
      rejects(() => make({ queues: { q: {} }, timings: { [k]: 2 ** 31 } }), new RegExp(k));
      rejects(() => make({ queues: { q: {} }, timings: { [k]: 0 } }), new RegExp(k));
    }
    rejects(
      () => make({ queues: { q: {} }, timings: { heartbeatIntervalMs: 2 ** 31 } }),
      /heartbeatIntervalMs/,
    );
    rejects(() => make({ queues: { q: { deadlineMs: day + 1 } } }), /deadlineMs/);
    rejects(() => make({ queues: { q: { priorityAgingMs: 2 ** 31 } } }), /priorityAgingMs/);
    rejects(() => make({ queues: { q: { maxWorkers: 10_001 } } }), /maxWorkers/);
    rejects(() => make({ queues: { q: { claimBatchSize: 4097 } } }), /claimBatchSize/);
    rejects(() => make({ queues: { q: { rateLimit: { perSecond: 1e-9 } } } }), /perSecond/);
    rejects(() => make({ queues: { q: { rateLimit: { perSecond: 1, burst: 0 } } } }), /burst/);
    const c = make({ queues: { q: {} } });
    rejects(() => c.shutdown({ timeoutMs: 2 ** 31 }), /^timeoutMs$/);
    await c.shutdown({ timeoutMs: 0 });
  },
});

Deno.test({
  name: "client.on rejects an unknown event name and lists the valid ones",
  ...POOL_TEST,
  async fn() {
    const c = make({ queues: { q: {} } });
    rejects(() => c.on("complete" as never, () => {}), /^event$/, /completed, retried/);
    rejects(() => c.on(Symbol("e") as never, () => {}), /^event$/);
    const off = c.on("completed", () => {});
    off();
    await c.shutdown();
  },
});

Deno.test({
  name: "fast-check: every rejected Client constructor call is a ValidationError",
  ...POOL_TEST,
  fn() {
    const value = fc.oneof(
      fc.anything(),
      fc.bigInt(),
      fc.constant(Symbol("s")),
      fc.integer({ min: -10, max: 2 ** 32 }),
      fc.double(),
      fc.constantFrom(null, undefined, 0, 1, 10, 200, 2 ** 31, 2 ** 31 - 1, 3_600_001),
    );
    /** Mostly `valid`, sometimes anything at all. */
    const mostly = <T>(valid: fc.Arbitrary<T>) =>
      fc.oneof({ arbitrary: valid, weight: 25 }, { arbitrary: value, weight: 1 });
    const ms = fc.integer({ min: 10, max: 3_600_000 });
    const rateLimit = mostly(fc.record({
      perSecond: mostly(fc.double({ min: 0.01, max: 1000, noNaN: true })),
      burst: mostly(fc.integer({ min: 1, max: 100 })),
    }, { requiredKeys: ["perSecond"] }));
    const queueConfig = mostly(
      fc.record({
        maxWorkers: mostly(fc.integer({ min: 1, max: 100 })),
        pollIntervalMs: mostly(ms),
        deadlineMs: mostly(fc.integer({ min: 0, max: 86_400_000 })),
        claimBatchSize: mostly(fc.integer({ min: 1, max: 4096 })),
        prefetch: mostly(fc.integer({ min: 0, max: 1000 })),
        priorityAgingMs: mostly(ms),
        rateLimit,
        maxWorker: value,
      }, { requiredKeys: [] }).map((c) => {
        // Misspelt keys only now and then, so that most configs can pass.
        const { maxWorker, ...rest } = c as Record<string, unknown>;
        return typeof maxWorker === "number" && maxWorker > 1000 ? c : rest;
      }),
    );
    const timings = mostly(fc.record({
      heartbeatIntervalMs: mostly(fc.integer({ min: 1, max: 1000 })),
      heartbeatStalenessMs: mostly(fc.integer({ min: 3000, max: 86_400_000 })),
      promoteIntervalMs: mostly(ms),
      rotateIntervalMs: mostly(ms),
      leaderPingMs: mostly(ms),
      listenCheckIntervalMs: mostly(ms),
    }, { requiredKeys: [] }));
    const options = mostly(fc.record({
      queues: mostly(fc.dictionary(
        mostly(fc.constantFrom("q", "a.b", "x_1")).map(String),
        queueConfig,
        { minKeys: 1, maxKeys: 3 },
      )),
      schema: mostly(fc.constantFrom("awa", "other_schema")),
      timings,
      maintenance: mostly(fc.boolean()),
      dlqEnabledByDefault: mostly(fc.boolean()),
    }, { requiredKeys: ["queues"] }));
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(options, (opts) => {
        let client: Client;
        try {
          client = make(opts);
        } catch (e) {
          rejected++;
          assert.ok(e instanceof AwaError, `not an AwaError: ${e}`);
          assert.equal(e.code, "VALIDATION", String(e));
          assert.ok(e instanceof ValidationError);
          assert.equal(typeof e.message, "string");
          return;
        }
        accepted++;
        // A client that never started holds nothing; registering a job still works.
        assert.ok(client.instanceId);
      }),
      { numRuns: 2000 },
    );
    console.log(`sweep: ${accepted} accepted, ${rejected} rejected, all typed`);
    assert.ok(rejected > 0 && accepted > 0);
  },
});

Deno.test({
  name: "a valid configuration is accepted unchanged",
  ...POOL_TEST,
  async fn() {
    const c = make({
      queues: { q: { maxWorkers: 4, prefetch: 8, rateLimit: { perSecond: 0.5 } } },
      timings: { heartbeatIntervalMs: 100, heartbeatStalenessMs: 300 },
      maintenance: false,
    });
    c.work(defineJob("v_ok", { queue: "q" }), () => null);
    await c.shutdown();
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
