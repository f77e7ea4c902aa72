/**
 * Jobs held back before their queue are visible to the admin layer as `waiting`: a job behind
 * its concurrency key's limit (plane key_waiting) and a flow node whose parents have not
 * finished (plane flow_waiting). getJob finds them, listJobs filters and pages them with the
 * rest, cancelJobs and drain cancel the keyed ones.
 */
import assert from "node:assert/strict";
import { defineJob, flowNode, insert, insertFlow, ValidationError } from "../../mod.ts";
import { cancelJobs, drain, getJob, listJobs } from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";

const t = await testDatabase("admin_waiting_jobs");
const sql = t.sql;

const tenantJob = defineJob<{ tenant: string; n: number }>("waiting_tenant", {
  queue: "waiting_keyed",
  concurrencyKey: (a) => a.tenant,
  concurrency: { perKey: 1 },
});
const nodeJob = defineJob<{ step: string }>("waiting_node", { queue: "waiting_flow" });

Deno.test({
  name: "a job behind its key's limit and a flow node behind its parents show as waiting",
  ...POOL_TEST,
  async fn() {
    const first = await insert(sql, tenantJob, { tenant: "t1", n: 0 });
    const second = await insert(sql, tenantJob, { tenant: "t1", n: 1 }, { tags: ["second"] });
    assert.equal((await getJob(sql, first.id)).state, "available");
    const held = await getJob(sql, second.id);
    assert.equal(held.state, "waiting");
    assert.equal(held.plane, "key_waiting");
    assert.deepEqual(held.args, { tenant: "t1", n: 1 });
    assert.deepEqual(held.tags, ["second"]);
    assert.equal(held.queue, "waiting_keyed");
    assert.equal(held.kind, "waiting_tenant");

    const flow = await insertFlow(sql, {
      nodes: [
        flowNode("a", nodeJob, { step: "a" }, { runAt: new Date(Date.now() + 3_600_000) }),
        flowNode("b", nodeJob, { step: "b" }, { dependsOn: ["a"] }),
      ],
    });
    const node = await getJob(sql, flow.jobIds.b);
    assert.equal(node.state, "waiting");
    assert.equal(node.plane, "flow_waiting");
    assert.deepEqual(node.args, { step: "b" });
    assert.equal(node.attempt, 0);
    assert.equal((await getJob(sql, flow.jobIds.a)).state, "scheduled");

    const waiting = await listJobs(sql, { state: "waiting" });
    assert.deepEqual(waiting.items.map((j) => j.id), [flow.jobIds.b, second.id]);
    const keyed = await listJobs(sql, { state: "waiting", queue: "waiting_keyed" });
    assert.deepEqual(keyed.items.map((j) => j.id), [second.id]);
    const page = await listJobs(sql, { limit: 1 });
    assert.equal(page.items.length, 1);
    const all = [...page.items];
    for (let cursor = page.nextCursor; cursor;) {
      const next = await listJobs(sql, { limit: 1, cursor });
      all.push(...next.items);
      cursor = next.nextCursor;
    }
    assert.deepEqual(
      all.map((j) => j.id),
      [flow.jobIds.b, flow.jobIds.a, second.id, first.id],
      "pages cover every plane exactly once, newest first",
    );
    await assert.rejects(
      () => listJobs(sql, { state: "pending" as "waiting" }),
      (e: unknown) => e instanceof ValidationError && e.field === "opts.state",
    );
  },
});

Deno.test({
  name: "cancelJobs and drain cancel jobs waiting for their key; waiting flow nodes stay",
  ...POOL_TEST,
  async fn() {
    const a = await insert(sql, tenantJob, { tenant: "t2", n: 0 });
    const b = await insert(sql, tenantJob, { tenant: "t2", n: 1 });
    const c = await insert(sql, tenantJob, { tenant: "t2", n: 2 });
    assert.equal((await getJob(sql, c.id)).state, "waiting");
    const cancelled = await cancelJobs(sql, { state: "waiting", queue: "waiting_keyed" });
    assert.equal(cancelled.count, 3, "b, c and the first test's waiting job of t1");
    for (const id of [b.id, c.id]) assert.equal((await getJob(sql, id)).state, "cancelled");
    assert.equal((await getJob(sql, a.id)).state, "available");

    const d = await insert(sql, tenantJob, { tenant: "t2", n: 3 });
    assert.equal((await getJob(sql, d.id)).state, "waiting");
    await drain(sql, "waiting_keyed");
    assert.equal((await getJob(sql, a.id)).state, "cancelled");
    assert.equal((await getJob(sql, d.id)).state, "cancelled");
    const left = await listJobs(sql, { state: "waiting" });
    assert.ok(left.items.every((j) => j.plane === "flow_waiting"));
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
