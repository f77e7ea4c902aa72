/**
 * Validation of the runtime's options: unknown or misspelt keys, null, Symbol and BigInt
 * values, timer ranges, event names and shutdown options are all rejected with a
 * ValidationError naming the field, and a fast-check sweep over Client constructor options
 * finds no other kind of error.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { AwaError, Client, type ClientOptions, defineJob, ValidationError } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";

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
    rejects(
      () => make({ queues: { q: {} }, heartbeats: {} }),
      /^options\.heartbeats$/,
      /heartbeat/,
    );
    rejects(
      () => make({ queues: { q: {} }, heartbeat: { interval: 5 } }),
      /^heartbeat\.interval$/,
      /intervalMs/,
    );
    rejects(() => make({ queues: { q: {} }, notifier: { check: 5 } }), /^notifier\.check$/);
    rejects(
      () => make({ queues: { q: {} }, maintenance: { promot: {} } }),
      /^maintenance\.promot$/,
    );
    rejects(
      () => make({ queues: { q: {} }, maintenance: { promote: { interval: 5 } } }),
      /^maintenance\.promote\.interval$/,
      /intervalMs/,
    );
    rejects(
      () => make({ queues: { q: {} }, maintenance: { leader: { ping: 5 } } }),
      /^maintenance\.leader\.ping$/,
    );
    // The flat timings of earlier releases are refused with a pointer to the grouped options.
    rejects(
      () => make({ queues: { q: {} }, timings: { promoteIntervalMs: 5 } }),
      /^options\.timings$/,
      /maintenance: \{ leader, promote/,
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
  name:
    "null options, heartbeat, services, rateLimit, queue config and shutdown(null) are rejected",
  ...POOL_TEST,
  async fn() {
    rejects(() => make(null), /^options$/);
    rejects(() => make({ queues: null }), /^options\.queues$/);
    rejects(() => make({ queues: { q: null } }), /^queues\.q$/);
    rejects(() => make({ queues: { q: {} }, heartbeat: null }), /^heartbeat$/);
    rejects(() => make({ queues: { q: {} }, notifier: null }), /^notifier$/);
    rejects(
      () => make({ queues: { q: {} }, maintenance: { rescue: null } }),
      /^maintenance\.rescue$/,
    );
    rejects(
      () => make({ queues: { q: {} }, maintenance: { leader: false } }),
      /^maintenance\.leader$/,
    );
    rejects(() => make({ queues: { q: { rateLimit: null } } }), /^queues\.q\.rateLimit$/);
    rejects(() => make({ queues: { q: {} }, maintenance: null }), /^maintenance$/);
    rejects(() => make({ queues: { q: {} }, maintenance: [] }), /^maintenance$/);
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
      rejects(
        () => make({ queues: { q: {} }, maintenance: { promote: { intervalMs: v } } }),
        /^maintenance\.promote\.intervalMs$/,
      );
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
    /** Each timing's path (group, then key) and maximum. */
    const timingMax: [string[], number][] = [
      [["heartbeat", "intervalMs"], day / 3], // staleness must stay ≥ 3 × interval within its max
      [["heartbeat", "stalenessMs"], day],
      [["notifier", "checkIntervalMs"], hour],
      [["maintenance", "promote", "intervalMs"], hour],
      [["maintenance", "rescue", "intervalMs"], day],
      [["maintenance", "rings", "intervalMs"], hour],
      [["maintenance", "leader", "electionRetryMs"], hour],
      [["maintenance", "leader", "pingMs"], hour],
      [["maintenance", "fold", "intervalMs"], day],
      [["maintenance", "runtimes", "stalenessMs"], day],
      [["maintenance", "runtimes", "intervalMs"], hour],
    ];
    /** Client options with `v` at `path`. */
    const at = (path: string[], v: number): Record<string, unknown> =>
      path.reduceRight<unknown>((inner, k) => ({ [k]: inner }), v) as Record<string, unknown>;
    for (const [path, max] of timingMax) {
      const field = new RegExp(`^${path.join("\\.")}$`);
      const ok = path.join(".") === "heartbeat.intervalMs"
        ? {
          heartbeat: { intervalMs: max, stalenessMs: day },
          maintenance: { runtimes: { stalenessMs: day } },
        }
        : at(path, max);
      make({ queues: { q: {} }, ...ok });
      rejects(() => make({ queues: { q: {} }, ...at(path, 2 ** 31) }), field);
      rejects(() => make({ queues: { q: {} }, ...at(path, 0) }), field);
    }
    rejects(
      () => make({ queues: { q: {} }, heartbeat: { intervalMs: 1000, stalenessMs: 2999 } }),
      /^heartbeat\.stalenessMs$/,
      /3 × heartbeat\.intervalMs/,
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
    const heartbeat = mostly(fc.record({
      intervalMs: mostly(fc.integer({ min: 1, max: 1000 })),
      stalenessMs: mostly(fc.integer({ min: 3000, max: 86_400_000 })),
    }, { requiredKeys: [] }));
    const notifier = mostly(fc.record({ checkIntervalMs: mostly(ms) }, { requiredKeys: [] }));
    const interval = mostly(fc.record({ intervalMs: mostly(ms) }, { requiredKeys: [] }));
    const maintenance = mostly(fc.oneof(
      fc.boolean(),
      fc.record({
        leader: mostly(fc.record({ pingMs: mostly(ms) }, { requiredKeys: [] })),
        promote: fc.oneof(interval, fc.constant(false)),
        rings: interval,
        fold: interval,
      }, { requiredKeys: [] }),
    ));
    const options = mostly(fc.record({
      queues: mostly(fc.dictionary(
        mostly(fc.constantFrom("q", "a.b", "x_1")).map(String),
        queueConfig,
        { minKeys: 1, maxKeys: 3 },
      )),
      schema: mostly(fc.constantFrom("awa", "other_schema")),
      heartbeat,
      notifier,
      maintenance,
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
      heartbeat: { intervalMs: 100, stalenessMs: 300 },
      notifier: { checkIntervalMs: 1000 },
      maintenance: false,
    });
    c.work(defineJob("v_ok", { queue: "q" }), () => null);
    await c.shutdown();
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
