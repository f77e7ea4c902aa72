/**
 * Property test over random DAGs on the real engine: two clients (separate pools, four workers
 * each) drain random flows whose nodes sometimes fail, under policy `fail` or `continue`. From the
 * attempts log: no node runs twice; a node that ran started after every parent finished (and,
 * under `fail`, after every parent completed); a node whose parents all completed ran exactly
 * once; under `continue` every node ran exactly once.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type Client, type FailurePolicy, flowNode, insertFlow } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";
import { createLog, flowFinished, startWorker, step } from "./support.ts";

const t = await testDatabase("flows_property");
await createLog(t);
const clients: Client[] = [];

const dag = fc.integer({ min: 2, max: 7 }).chain((n) =>
  fc.record({
    policy: fc.constantFrom<FailurePolicy>("fail", "continue"),
    fails: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
    edges: fc.array(
      fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      { minLength: n, maxLength: n },
    ),
  })
);

let round = 0;

Deno.test({
  name: "random DAGs: every node runs at most once, after its parents, and exactly once when due",
  ...POOL_TEST,
  async fn() {
    clients.push(await startWorker(t, 4), await startWorker(t, 4));
    await fc.assert(
      fc.asyncProperty(dag, async ({ policy, fails, edges }) => {
        const r = round++;
        const n = fails.length;
        // edges[i][j] with j < i: node i depends on node j (acyclic by construction).
        const parents = (i: number) => [...Array(i).keys()].filter((j) => edges[i][j]);
        const flow = await insertFlow(t.sql, {
          failurePolicy: policy,
          nodes: [...Array(n).keys()].map((i) =>
            flowNode(`n${i}`, step, {
              label: `p${r}-n${i}`,
              action: fails[i] && i % 2 === 1 ? "fail" : "complete",
            }, { dependsOn: parents(i).map((j) => `n${j}`) })
          ),
        });
        await flowFinished(t, flow.flowId, 60_000);
        const nodes = await t.sql<{ node_key: string; state: string; finished_at: Date }[]>`
          SELECT node_key, state, finished_at FROM awa.flow_nodes WHERE flow_id = ${flow.flowId}`;
        const node = Object.fromEntries(nodes.map((x) => [x.node_key, x]));
        const log = await t.sql<{ label: string; started_at: Date }[]>`
          SELECT label, started_at FROM flow_log WHERE label LIKE ${`p${r}-%`}`;
        for (let i = 0; i < n; i++) {
          const runs = log.filter((l) => l.label === `p${r}-n${i}`);
          assert.ok(runs.length <= 1, `n${i} ran ${runs.length} times`);
          const ps = parents(i).map((j) => node[`n${j}`]);
          if (runs.length === 1) {
            for (const p of ps) {
              assert.ok(p.finished_at <= runs[0].started_at, `n${i} started before a parent`);
              if (policy === "fail") assert.equal(p.state, "completed");
            }
          }
          if (ps.every((p) => p.state === "completed") || policy === "continue") {
            assert.equal(runs.length, 1, `n${i} was due but ran ${runs.length} times`);
          }
        }
      }),
      { numRuns: 12 },
    );
  },
});

Deno.test({
  name: "shutdown",
  ...POOL_TEST,
  async fn() {
    for (const c of clients) await c.shutdown({ timeoutMs: 5000 });
    await t.close();
  },
});
