/**
 * `claimConnections`: each queue claims on a session of its own (one backend for every claim
 * of that queue, closed at shutdown), or on the pool when turned off.
 */
import assert from "node:assert/strict";
import { Client, defineJob, insert, ValidationError } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, waitFor } from "../support/runtime.ts";

const t = await testDatabase("runtime_claim_connections");
const sql = t.sql;

/** Backends of `app` whose latest statement was a claim, as pid → queue claimed. */
async function claimBackends(app: string): Promise<Map<number, string>> {
  const rows = await sql<{ pid: number; query: string }[]>`
    SELECT pid, query FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = ${app}
      AND query LIKE '%claim_batch(%'`;
  return new Map(rows.map((r) => [r.pid, r.query]));
}

async function backendCount(app: string): Promise<number> {
  const [{ n }] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = ${app}`;
  return n;
}

/** Run `n` jobs of each queue one at a time, sampling the claim backends after each. */
async function runOneAtATime(
  client: Client,
  queues: string[],
  n: number,
  app: string,
): Promise<Set<number>> {
  const seen = new Set<number>();
  const done = new Set<number>();
  client.on("completed", ({ job }) => void done.add(job.id));
  for (let i = 0; i < n; i++) {
    for (const queue of queues) {
      const { id } = await insert(sql, defineJob<{ i: number }>(`tick_${queue}`, { queue }), { i });
      await waitFor(`job ${id} completed`, () => done.has(id));
      for (const pid of (await claimBackends(app)).keys()) seen.add(pid);
    }
  }
  return seen;
}

Deno.test({
  name: "claimConnections: every claim of a queue runs on that queue's own session",
  ...POOL_TEST,
  async fn() {
    const app = "awa_claims_on";
    const db = t.connect({ max: 4, connection: { application_name: app } });
    const queues = ["cc_a", "cc_b"];
    const client = new Client(db, {
      queues: { cc_a: {}, cc_b: {} },
      maintenance: false,
    });
    for (const q of queues) {
      client.work(defineJob<{ i: number }>(`tick_${q}`, { queue: q }), () => {});
    }
    try {
      await client.start();
      const seen = await runOneAtATime(client, queues, 15, app);
      // One backend per queue made every claim, though the pool had four connections to spread
      // statements over.
      assert.equal(seen.size, 2, `claim backends seen: ${[...seen].join(", ")}`);
      const now = await claimBackends(app);
      assert.deepEqual([...now.keys()].sort(), [...seen].sort());
      await client.shutdown();
      await waitFor("claim sessions closed", async () => (await claimBackends(app)).size === 0);
      // The caller's pool is the caller's: it stays usable after shutdown.
      assert.equal((await db`SELECT 1 AS one`)[0].one, 1);
    } finally {
      await client.shutdown();
      await db.end();
    }
  },
});

Deno.test({
  name: "claimConnections false: claims use the pool and no connection is added",
  ...POOL_TEST,
  async fn() {
    const app = "awa_claims_off";
    const db = t.connect({ max: 3, connection: { application_name: app } });
    const queues = ["co_a", "co_b"];
    const client = new Client(db, {
      queues: { co_a: {}, co_b: {} },
      maintenance: false,
      claimConnections: false,
    });
    for (const q of queues) {
      client.work(defineJob<{ i: number }>(`tick_${q}`, { queue: q }), () => {});
    }
    try {
      await client.start();
      const seen = await runOneAtATime(client, queues, 10, app);
      assert.ok(seen.size >= 1, "claims ran on the pool's connections");
      // The pool's three connections and nothing beside them (the LISTEN connection has an
      // application name of its own).
      assert.ok((await backendCount(app)) <= 3, `${await backendCount(app)} backends`);
    } finally {
      await client.shutdown();
      await db.end();
    }
  },
});

Deno.test({
  name: "claimConnections must be a boolean",
  fn() {
    for (const claimConnections of [1, "yes", null]) {
      assert.throws(
        () =>
          new Client(t.url, {
            queues: { q: {} },
            claimConnections: claimConnections as unknown as boolean,
          }),
        (err: unknown) => err instanceof ValidationError && /claimConnections/.test(err.message),
      );
    }
  },
});
