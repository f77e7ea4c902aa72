/**
 * Flows on the real engine in one worker process: fan-out and fan-in with the parents' results,
 * every failure policy, cancelling a flow as a whole, the admin view, and graph validation that
 * writes nothing.
 */
import assert from "node:assert/strict";
import { FlowGraphError, flowInputs, flowNode, insertFlow, ValidationError } from "../../mod.ts";
import { cancelFlow, FlowNotFoundError, getFlow, listFlows } from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, waitFor } from "../support/runtime.ts";
import { createLog, flowFinished, nodeStates, startWorker, step } from "./support.ts";

const t = await testDatabase("flows");
await createLog(t);
const client = await startWorker(t, 4);

Deno.test({
  name: "fan-out then fan-in: the join runs once, after every parent, and sees their results",
  ...POOL_TEST,
  async fn() {
    const flow = await insertFlow(t.sql, {
      name: "fan",
      nodes: [
        flowNode("join", step, { label: "join" }, { dependsOn: ["b1", "b2", "b3"] }),
        flowNode("root", step, { label: "root" }),
        flowNode("b1", step, { label: "b1" }, { dependsOn: ["root"] }),
        flowNode("b2", step, { label: "b2" }, { dependsOn: ["root"] }),
        flowNode("b3", step, { label: "b3" }, { dependsOn: ["root"] }),
      ],
    });
    await flowFinished(t, flow.flowId);
    const log = await t.sql<{ label: string; seq: number; metadata: Record<string, unknown> }[]>`
      SELECT label, seq::int, metadata FROM flow_log
      WHERE job_id = ANY(${Object.values(flow.jobIds)}) ORDER BY seq`;
    assert.deepEqual(log.map((l) => l.label).filter((l) => l === "join"), ["join"]);
    assert.equal(log[0].label, "root");
    assert.equal(log[log.length - 1].label, "join");
    const inputs = flowInputs({ metadata: log[log.length - 1].metadata });
    assert.equal(inputs.flowId, flow.flowId);
    assert.equal(inputs.node, "join");
    assert.deepEqual(Object.keys(inputs.parents).sort(), ["b1", "b2", "b3"]);
    for (const b of ["b1", "b2", "b3"]) {
      assert.deepEqual(inputs.parents[b].result, { label: b });
      assert.equal(inputs.parents[b].state, "completed");
      assert.equal(inputs.parents[b].jobId, flow.jobIds[b]);
    }
    const detail = await getFlow(t.sql, flow.flowId);
    assert.equal(detail.state, "completed");
    assert.equal(detail.nodes.completed, 5);
    assert.deepEqual(detail.nodeList.map((n) => n.node), ["root", "b1", "b2", "b3", "join"]);
    assert.deepEqual(detail.nodeList[4].dependsOn, ["b1", "b2", "b3"]);
    assert.deepEqual(detail.nodeList[1].result, { label: "b1" });
    const listed = await listFlows(t.sql, { kind: "flow" });
    assert.ok(listed.some((f) => f.id === flow.flowId && f.name === "fan"));
  },
});

Deno.test({
  name: "policy fail: dependents of a failed node fail without running, other branches go on",
  ...POOL_TEST,
  async fn() {
    const flow = await insertFlow(t.sql, {
      failurePolicy: "fail",
      nodes: [
        flowNode("a", step, { label: "fail-a", action: "fail" }),
        flowNode("ok", step, { label: "fail-ok" }),
        flowNode("after_a", step, { label: "fail-after_a" }, { dependsOn: ["a"] }),
        flowNode("after_after", step, { label: "fail-after_after" }, { dependsOn: ["after_a"] }),
        flowNode("after_ok", step, { label: "fail-after_ok" }, { dependsOn: ["ok"] }),
      ],
    });
    await flowFinished(t, flow.flowId);
    assert.deepEqual(await nodeStates(t, flow.flowId), {
      a: "failed",
      ok: "completed",
      after_a: "failed",
      after_after: "failed",
      after_ok: "completed",
    });
    const ran = await t.sql<{ label: string }[]>`
      SELECT label FROM flow_log WHERE label LIKE 'fail-%' ORDER BY label`;
    assert.deepEqual(ran.map((r) => r.label), ["fail-a", "fail-after_ok", "fail-ok"]);
    assert.equal((await getFlow(t.sql, flow.flowId)).state, "failed");
  },
});

Deno.test({
  name: "policy continue (per edge): the dependent runs and sees the failed parent's state",
  ...POOL_TEST,
  async fn() {
    const flow = await insertFlow(t.sql, {
      nodes: [
        flowNode("bad", step, { label: "cont-bad", action: "fail" }),
        flowNode("good", step, { label: "cont-good" }),
        flowNode("report", step, { label: "cont-report" }, {
          dependsOn: [{ node: "bad", onFailure: "continue" }, "good"],
        }),
      ],
    });
    await flowFinished(t, flow.flowId);
    const [row] = await t.sql<{ metadata: Record<string, unknown> }[]>`
      SELECT metadata FROM flow_log WHERE label = 'cont-report'`;
    const inputs = flowInputs(row);
    assert.equal(inputs.parents.bad.state, "failed");
    assert.equal(inputs.parents.bad.result, null);
    assert.deepEqual(inputs.parents.good.result, { label: "cont-good" });
  },
});

Deno.test({
  name: "policy cancel: a failed node cancels the rest of the flow, running jobs included",
  ...POOL_TEST,
  async fn() {
    const flow = await insertFlow(t.sql, {
      failurePolicy: "cancel",
      nodes: [
        flowNode("slow", step, { label: "cx-slow", sleepMs: 60_000 }),
        flowNode("bad", step, { label: "cx-bad", action: "fail", sleepMs: 300 }),
        flowNode("after_slow", step, { label: "cx-after_slow" }, { dependsOn: ["slow"] }),
        flowNode("after_bad", step, { label: "cx-after_bad" }, { dependsOn: ["bad"] }),
      ],
    });
    await flowFinished(t, flow.flowId);
    assert.deepEqual(await nodeStates(t, flow.flowId), {
      slow: "cancelled",
      bad: "failed",
      after_slow: "cancelled",
      after_bad: "cancelled",
    });
    const detail = await getFlow(t.sql, flow.flowId);
    assert.equal(detail.state, "cancelled");
    assert.ok(detail.cancelledAt !== null);
  },
});

Deno.test({
  name: "cancelFlow cancels waiting, queued and running nodes; nothing after runs",
  ...POOL_TEST,
  async fn() {
    const flow = await insertFlow(t.sql, {
      nodes: [
        flowNode("running", step, { label: "cf-running", sleepMs: 60_000 }),
        flowNode("later", step, { label: "cf-later" }, { dependsOn: ["running"] }),
        flowNode("delayed", step, { label: "cf-delayed" }, {
          runAt: new Date(Date.now() + 3_600_000),
        }),
      ],
    });
    await waitFor("the root runs", async () => {
      const rows = await t.sql`SELECT 1 FROM flow_log WHERE label = 'cf-running'`;
      return rows.length === 1;
    });
    const n = await cancelFlow(t.sql, flow.flowId);
    assert.equal(n, 3);
    assert.equal(await cancelFlow(t.sql, flow.flowId), 0, "a second cancel changes nothing");
    await flowFinished(t, flow.flowId);
    assert.deepEqual(await nodeStates(t, flow.flowId), {
      running: "cancelled",
      later: "cancelled",
      delayed: "cancelled",
    });
    const later = await t.sql`SELECT 1 FROM flow_log WHERE label IN ('cf-later', 'cf-delayed')`;
    assert.equal(later.length, 0);
    await assert.rejects(() => cancelFlow(t.sql, 999_999_999), FlowNotFoundError);
    await assert.rejects(() => getFlow(t.sql, 999_999_999), FlowNotFoundError);
  },
});

Deno.test({
  name: "invalid graphs are refused with typed errors and write nothing",
  ...POOL_TEST,
  async fn() {
    // The worker's maintenance may prune finished flows and jobs of earlier tests meanwhile, so
    // count only rows newer than the high-water marks taken first: a refused graph adds none.
    const [marks] = await t.sql<{ flow: string; job: string }[]>`
      SELECT coalesce((SELECT max(flow_id) FROM awa.flows), 0)::text AS flow,
        greatest(coalesce((SELECT max(id) FROM awa.jobs), 0),
          coalesce((SELECT max(job_id) FROM awa.flow_nodes), 0))::text AS job`;
    const added = async () => {
      const [r] = await t.sql<{ f: number; n: number; e: number; j: number }[]>`
        SELECT (SELECT count(*)::int FROM awa.flows WHERE flow_id > ${marks.flow}) AS f,
          (SELECT count(*)::int FROM awa.flow_nodes WHERE job_id > ${marks.job}) AS n,
          (SELECT count(*)::int FROM awa.flow_edges WHERE child_id > ${marks.job}) AS e,
          (SELECT count(*)::int FROM awa.jobs WHERE id > ${marks.job}) AS j`;
      return r;
    };
    const cases: [unknown, string][] = [
      [[
        flowNode("a", step, { label: "x" }, { dependsOn: ["b"] }),
        flowNode("b", step, { label: "x" }, { dependsOn: ["a"] }),
      ], "cycle"],
      [[flowNode("a", step, { label: "x" }, { dependsOn: ["a"] })], "cycle"],
      [[flowNode("a", step, { label: "x" }, { dependsOn: ["nope"] })], "unknown_parent"],
      [
        [flowNode("a", step, { label: "x" }), flowNode("a", step, { label: "y" })],
        "duplicate_node",
      ],
      [[
        flowNode("r", step, { label: "x" }),
        flowNode("a", step, { label: "x" }, { dependsOn: ["r", "r"] }),
      ], "duplicate_node"],
      [
        Array.from({ length: 10_001 }, (_, i) => flowNode(`n${i}`, step, { label: "x" })),
        "too_large",
      ],
    ];
    for (const [nodes, problem] of cases) {
      await assert.rejects(
        () => insertFlow(t.sql, { nodes: nodes as never }),
        (err: unknown) => err instanceof FlowGraphError && err.problem === problem,
        problem,
      );
    }
    await assert.rejects(() => insertFlow(t.sql, { nodes: [] }), ValidationError);
    await assert.rejects(
      () => insertFlow(t.sql, { nodes: [flowNode("bad id!", step, { label: "x" })] }),
      ValidationError,
    );
    await assert.rejects(
      () =>
        insertFlow(t.sql, {
          failurePolicy: "explode" as never,
          nodes: [flowNode("a", step, { label: "x" })],
        }),
      ValidationError,
    );
    await assert.rejects(
      () =>
        insertFlow(t.sql, {
          nodes: [flowNode("a", step, { label: "x" }, { priority: 9 })],
        }),
      ValidationError,
    );
    assert.deepEqual(await added(), { f: 0, n: 0, e: 0, j: 0 });
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
