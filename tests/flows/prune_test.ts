/**
 * Flow retention (`flow_prune`): a finished flow older than the completed-job retention goes,
 * with its nodes, edges and gates; a flow with a node still waiting or queued stays, and so does
 * a finished flow inside the retention. The service's tick runs directly.
 */
import assert from "node:assert/strict";
import { flowNode, insertFlow, ValidationError } from "../../mod.ts";
import { FlowNotFoundError, getFlow } from "../../admin.ts";
import { flowPrune, type FlowPruneOptions } from "../../src/maintenance/flow_prune.ts";
import { testDatabase } from "../support/db.ts";
import { SETTINGS, tickContext } from "../support/maintenance.ts";
import { POOL_TEST } from "../support/runtime.ts";
import { createLog, flowFinished, startWorker, step } from "./support.ts";

const t = await testDatabase("flows_prune");
await createLog(t);
const client = await startWorker(t, 4);
const options = flowPrune.resolve(undefined, "maintenance.flow_prune", SETTINGS);

async function rowsOf(flowId: number, jobIds: number[]) {
  const [r] = await t.sql<{ flows: number; nodes: number; edges: number; gates: number }[]>`
    SELECT (SELECT count(*)::int FROM awa.flows WHERE flow_id = ${flowId}) AS flows,
      (SELECT count(*)::int FROM awa.flow_nodes WHERE flow_id = ${flowId}) AS nodes,
      (SELECT count(*)::int FROM awa.flow_edges WHERE child_id = ANY(${jobIds})) AS edges,
      (SELECT count(*)::int FROM awa.flow_gates WHERE child_id = ANY(${jobIds})) AS gates`;
  return r;
}

function chain(name: string, runAt?: Date) {
  return insertFlow(t.sql, {
    name,
    nodes: [
      flowNode("a", step, { label: `${name}-a` }, runAt ? { runAt } : {}),
      flowNode("b", step, { label: `${name}-b` }, { dependsOn: ["a"] }),
    ],
  });
}

Deno.test({
  name: "flow_prune: finished flows past the retention go whole; unfinished and recent ones stay",
  ...POOL_TEST,
  async fn() {
    const done = await chain("done");
    await flowFinished(t, done.flowId);
    const later = await chain("later", new Date(Date.now() + 3_600_000));
    const doneIds = Object.values(done.jobIds);
    const laterIds = Object.values(later.jobIds);
    assert.deepEqual(await rowsOf(done.flowId, doneIds), {
      flows: 1,
      nodes: 2,
      edges: 1,
      gates: 1,
    });

    // Inside the default retention (1 day) nothing goes.
    const stats = flowPrune.newStats();
    await flowPrune.tick(tickContext(t.sql), options, stats);
    assert.equal(stats.flowsPruned, 0);
    assert.equal((await getFlow(t.sql, done.flowId)).state, "completed");

    await t.sql`UPDATE awa.retention_defaults SET completed_ms = 0`;
    try {
      await flowPrune.tick(tickContext(t.sql), options, stats);
      assert.equal(stats.flowsPruned, 1);
      assert.deepEqual(await rowsOf(done.flowId, doneIds), {
        flows: 0,
        nodes: 0,
        edges: 0,
        gates: 0,
      });
      await assert.rejects(() => getFlow(t.sql, done.flowId), FlowNotFoundError);
      // Its first node is scheduled, its second waits: the flow is not finished.
      assert.deepEqual(await rowsOf(later.flowId, laterIds), {
        flows: 1,
        nodes: 2,
        edges: 1,
        gates: 1,
      });
      assert.equal((await getFlow(t.sql, later.flowId)).state, "running");
    } finally {
      await t.sql`UPDATE awa.retention_defaults SET completed_ms = DEFAULT`;
    }
  },
});

Deno.test({
  name: "flow_prune: bad options are typed errors naming the field",
  fn() {
    for (
      const input of [{ batchSize: 0 }, { intervalMs: 10 }, { every: 1 }, "often"] as unknown[]
    ) {
      assert.throws(
        () => flowPrune.resolve(input as FlowPruneOptions, "maintenance.flow_prune", SETTINGS),
        (e: unknown) =>
          e instanceof ValidationError && e.field.startsWith("maintenance.flow_prune"),
      );
    }
  },
});

Deno.test({
  name: "shutdown",
  ...POOL_TEST,
  async fn() {
    await client.shutdown({ timeoutMs: 5000 });
    await t.close();
  },
});
