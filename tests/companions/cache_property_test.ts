/**
 * Property: getOrSet's single-flight and load lease (correctness/specs/AwaCacheStampede.tla)
 * under random interleavings against real Postgres. Each "process" is a pool of its own (its
 * own single-flight), callers start at random times with loaders of random duration, some of
 * which fail, on keys that start absent, expired, live or held by the lease of a dead process.
 * Afterwards, per key: at most one loader call succeeded (none when the key started live),
 * every caller that resolved got the stored value, and every caller that rejected got its own
 * flight's loader error.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Cache } from "../../mod.ts";
import { fcSettings } from "../../correctness/property/run.ts";
import { testDatabase } from "../support/db.ts";

const START = ["absent", "expired", "live", "deadLease"] as const;
type Start = typeof START[number];

interface Caller {
  process: number;
  key: number;
  startMs: number;
  loadMs: number;
  fails: boolean;
}

const scenarioArb = fc.record({
  starts: fc.array(fc.constantFrom(...START), { minLength: 1, maxLength: 3 }),
  callers: fc.array(
    fc.record({
      process: fc.integer({ min: 0, max: 2 }),
      key: fc.integer({ min: 0, max: 2 }),
      startMs: fc.integer({ min: 0, max: 40 }),
      loadMs: fc.integer({ min: 0, max: 40 }),
      fails: fc.integer({ min: 0, max: 9 }).map((n) => n < 3),
    }),
    { minLength: 2, maxLength: 16 },
  ),
});

class Boom extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name:
    "property: getOrSet loads each key at most once across processes under random interleavings",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const db = await testDatabase("cache_property");
    try {
      const pools = [0, 1, 2].map(() => db.connect({ max: 2 }));
      const { seed, numRuns } = fcSettings("cache_property", 4242, 20);
      let run = 0;
      await fc.assert(
        fc.asyncProperty(scenarioArb, async ({ starts, callers }) => {
          const namespace = `prop${run++}`;
          const keyOf = (i: number) => `k${i % starts.length}`;
          const startOf = (c: Caller): Start => starts[c.key % starts.length];
          for (const [i, start] of starts.entries()) {
            if (start === "absent") continue;
            const expires = start === "live" ? "1 hour" : start === "deadLease" ? "60 ms" : "-1 s";
            const lease = start === "deadLease" ? crypto.randomUUID() : null;
            const value = start === "deadLease" ? null : JSON.stringify("preloaded");
            await db.sql`
              INSERT INTO awa.cache_entries (namespace, key, value, lease, expires_at)
              VALUES (${namespace}, ${keyOf(i)}, ${value}::jsonb, ${lease}::uuid,
                      clock_timestamp() + ${expires}::interval)`;
          }
          const caches = pools.map((p) => new Cache<string>(p, { namespace, ttlMs: 60_000 }));
          const succeeded = new Map<string, number>();
          const outcomes = await Promise.allSettled(callers.map(async (c, i) => {
            await sleep(c.startMs);
            return await caches[c.process].getOrSet(keyOf(c.key), {}, async () => {
              await sleep(c.loadMs);
              if (c.fails) throw new Boom(`caller ${i}`);
              const key = keyOf(c.key);
              succeeded.set(key, (succeeded.get(key) ?? 0) + 1);
              return `loaded by ${i}`;
            });
          }));
          for (const [i, c] of callers.entries()) {
            const key = keyOf(c.key);
            const loads = succeeded.get(key) ?? 0;
            assert.ok(loads <= 1, `${key} loaded ${loads} times`);
            if (startOf(c) === "live") assert.equal(loads, 0, `${key} was live`);
            // No row when every load of the key failed.
            const [row] = await db.sql`
              SELECT value #>> '{}' AS v FROM awa.cache_entries
              WHERE namespace = ${namespace} AND key = ${key}`;
            const v = row?.v;
            const o = outcomes[i];
            if (o.status === "fulfilled") {
              assert.equal(o.value, v, `caller ${i} got the stored value of ${key}`);
            } else {
              assert.ok(o.reason instanceof Boom, `caller ${i}: ${o.reason}`);
            }
          }
        }),
        { seed, numRuns },
      );
    } finally {
      await db.close();
    }
  },
});
