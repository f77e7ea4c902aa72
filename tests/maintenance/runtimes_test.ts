/**
 * The dead-runtime service: a tick removes runtimes unseen for `stalenessMs` and for three of
 * their own heartbeat intervals; this client's row, fresh rows and rows of runtimes with a
 * slow heartbeat stay. The staleness must cover three heartbeats of this client.
 */
import assert from "node:assert/strict";
import { ValidationError } from "../../mod.ts";
import { runtimes } from "../../src/maintenance/runtimes.ts";
import { testDatabase } from "../support/db.ts";
import { prepared, SETTINGS, tickContext } from "../support/maintenance.ts";
import { POOL_TEST } from "../support/runtime.ts";

const t = await testDatabase("maintenance_runtimes_service");
const sql = t.sql;

/** List a runtime last seen `agoS` seconds ago that heartbeats every `beatMs`. */
async function runtime(agoS: number, beatMs = 200): Promise<string> {
  const [{ id }] = await sql<{ id: string }[]>`
    INSERT INTO awa.runtime_instances (instance_id, hostname, pid, version, snapshot_interval_ms,
      last_seen_at)
    VALUES (gen_random_uuid(), 'test', 1, '0', ${beatMs},
      clock_timestamp() - make_interval(secs => ${agoS}))
    RETURNING instance_id::text AS id`;
  return id;
}

async function listed(): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    SELECT instance_id::text AS id FROM awa.runtime_instances ORDER BY 1`;
  return rows.map((r) => r.id);
}

Deno.test({
  name: "runtimes: a tick removes only runtimes unseen past the staleness",
  ...POOL_TEST,
  async fn() {
    const self = await runtime(3600);
    const dead = await runtime(20);
    const fresh = await runtime(1);
    // Unseen for 20 s, but it beats every 10 s: not dead until 30 s.
    const slow = await runtime(20, 10_000);
    const r = prepared(runtimes, { stalenessMs: 10_000 }, tickContext(sql, [], self));
    assert.deepEqual(r.options, { intervalMs: 60_000, stalenessMs: 10_000 });
    assert.equal((await r.tick()).runtimesRemoved, 1);
    assert.deepEqual(await listed(), [self, fresh, slow].sort());
    assert.ok(!(await listed()).includes(dead));
  },
});

Deno.test({
  name: "runtimes: stalenessMs covers 3 heartbeats; both values are bounded integers",
  ...POOL_TEST,
  fn() {
    const field = "maintenance.runtimes";
    const slowBeat = { ...SETTINGS, heartbeat: { intervalMs: 1000, stalenessMs: 3000 } };
    assert.equal(runtimes.resolve({ stalenessMs: 3000 }, field, slowBeat).stalenessMs, 3000);
    const bad: [unknown, string, typeof SETTINGS][] = [
      [{ stalenessMs: 2999 }, "stalenessMs", slowBeat],
      [{ stalenessMs: 86_400_001 }, "stalenessMs", SETTINGS],
      [{ intervalMs: 3_600_001 }, "intervalMs", SETTINGS],
      [{ intervalMs: 0 }, "intervalMs", SETTINGS],
    ];
    for (const [input, key, settings] of bad) {
      assert.throws(
        () => runtimes.resolve(input as never, field, settings),
        (e: unknown) => e instanceof ValidationError && e.field === `${field}.${key}`,
        JSON.stringify(input),
      );
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
