/**
 * listRuntimes and storageStatus (issue 11, item 6): a running Client is listed with its host,
 * pid, version, queues and leadership; a runtime unseen past the staleness rule is flagged
 * stale; storage status shows both rings' slots and partitions, table statistics, and the last
 * prune and rotate outcome that the rings service recorded, with its reason.
 */
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { Client, defineJob, insertMany, ValidationError, VERSION } from "../../mod.ts";
import { listRuntimes, RING_OUTCOME_REASONS, storageStatus } from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, TIMINGS, waitFor, withTimings } from "../support/runtime.ts";

const t = await testDatabase("admin_runtimes_status");
const sql = t.sql;

Deno.test({
  name: "bad options are ValidationErrors",
  ...POOL_TEST,
  async fn() {
    await assert.rejects(() => listRuntimes(sql, { schema: "no-dashes" }), ValidationError);
    await assert.rejects(
      () => storageStatus(sql, { verbose: true } as unknown as { schema: string }),
      ValidationError,
    );
  },
});

Deno.test({
  name: "a running client is listed, a silent one is stale, and ring maintenance is recorded",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("status_job", { queue: "st" });
    const client = new Client(t.url, {
      queues: { st: { maxWorkers: 2 } },
      ...withTimings({ maintenance: { rings: { intervalMs: 100 } } }, TIMINGS),
    });
    client.work(job, () => null);
    await client.start();
    try {
      await insertMany(sql, job, Array.from({ length: 20 }, (_, n) => ({ args: { n } })));
      const [me] = await waitFor("the client to lead", async () => {
        const rs = await listRuntimes(sql);
        return rs.length === 1 && rs[0].leader ? rs : undefined;
      });
      assert.equal(me.hostname, hostname());
      assert.equal(me.pid, Deno.pid);
      assert.equal(me.version, VERSION);
      assert.deepEqual(Object.keys(me.queues), ["st"]);
      assert.equal(me.stale, false);
      assert.equal(me.shuttingDown, false);
      assert.ok(me.startedAt.getTime() <= me.lastSeenAt.getTime());

      await sql`INSERT INTO awa.runtime_instances (instance_id, hostname, pid, version,
          started_at, last_seen_at, snapshot_interval_ms)
        VALUES (${crypto.randomUUID()}, 'gone', 1, '0.0.1', now() - interval '3 minutes',
          now() - interval '40 seconds', 1000),
          (${crypto.randomUUID()}, 'slow', 2, '0.0.1', now() - interval '2 minutes',
          now() - interval '40 seconds', 20000)`;
      const listed = await listRuntimes(sql);
      assert.deepEqual(
        listed.map((r) => [r.hostname, r.stale]),
        [["gone", true], ["slow", false], [hostname(), false]],
      );

      const status = await waitFor("both rings to record prune and rotate", async () => {
        const s = await storageStatus(sql);
        return s.rings.every((r) => r.prune && r.rotate) ? s : undefined;
      });
      assert.deepEqual(status.rings.map((r) => [r.ring, r.slotCount, r.slots.length]), [
        ["queue", 16, 16],
        ["claim", 8, 8],
      ]);
      for (const ring of status.rings) {
        assert.equal(ring.slots.filter((s) => s.current).length, 1);
        assert.equal(ring.slots.find((s) => s.current)!.slot, ring.currentSlot);
        assert.equal(ring.slots[0].tables.length, ring.ring === "queue" ? 4 : 3);
        assert.equal(ring.prune!.reason, RING_OUTCOME_REASONS[ring.prune!.outcome]);
        assert.equal(ring.rotate!.reason, RING_OUTCOME_REASONS[ring.rotate!.outcome]);
        assert.ok(ring.generation >= 0);
      }
      await waitFor("a rotation to be recorded as a success", async () => {
        const s = await storageStatus(sql);
        return s.rings[0].rotate?.lastSucceededAt ?? undefined;
      });
      const names = status.tables.map((x) => x.table);
      for (const n of ["queue_meta", "deferred_jobs", "queue_terminal_counts", "ready_entries"]) {
        assert.ok(names.includes(n), `${n} listed`);
      }
      assert.ok(!names.includes("ready_entries_0"), "partitions are listed under their slot");
      assert.equal(typeof status.deadTuples, "number");
    } finally {
      await client.shutdown({ timeoutMs: 5000 });
    }
  },
});

Deno.test({ name: "close admin_runtimes_status database", ...POOL_TEST, fn: () => t.close() });
