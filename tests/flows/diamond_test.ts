/**
 * The diamond A -> (B, C) -> D across two worker processes with one worker each: B and C wait
 * for each other before finishing, so they run in different processes and complete at the same
 * moment. D must be released exactly once, start after both finished, and see both results.
 */
import assert from "node:assert/strict";
import { flowInputs, flowNode, insertFlow } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { Fixture, POOL_TEST, TIMINGS } from "../support/runtime.ts";
import { createLog, flowFinished, step } from "./support.ts";

const t = await testDatabase("flows_diamond");
await createLog(t);

Deno.test({
  name: "diamond: B and C complete concurrently in two processes, D runs once after both",
  ...POOL_TEST,
  async fn() {
    const workers = [0, 1].map(() =>
      new Fixture("flow_worker.ts", [t.url, "1", JSON.stringify(TIMINGS)])
    );
    try {
      for (const w of workers) await w.line((l) => l.ready === true);
      for (let round = 0; round < 5; round++) {
        const [b, c] = [`B${round}`, `C${round}`];
        const flow = await insertFlow(t.sql, {
          nodes: [
            flowNode("A", step, { label: `A${round}` }),
            flowNode("B", step, { label: b, barrier: [b, c] }, { dependsOn: ["A"] }),
            flowNode("C", step, { label: c, barrier: [b, c] }, { dependsOn: ["A"] }),
            flowNode("D", step, { label: `D${round}` }, { dependsOn: ["B", "C"] }),
          ],
        });
        await flowFinished(t, flow.flowId);
        const log = await t.sql<
          { label: string; pid: number; metadata: Record<string, unknown>; started_at: Date }[]
        >`
          SELECT label, pid, metadata, started_at FROM flow_log
          WHERE job_id = ANY(${Object.values(flow.jobIds)}) ORDER BY seq`;
        const runs = (l: string) => log.filter((r) => r.label === l);
        assert.equal(runs(`D${round}`).length, 1, "D ran exactly once");
        assert.equal(runs(b).length, 1);
        assert.equal(runs(c).length, 1);
        assert.notEqual(runs(b)[0].pid, runs(c)[0].pid, "B and C ran in different processes");
        const finished = await t.sql<{ node_key: string; finished_at: Date; state: string }[]>`
          SELECT node_key, finished_at, state FROM awa.flow_nodes WHERE flow_id = ${flow.flowId}`;
        const at = Object.fromEntries(finished.map((r) => [r.node_key, r]));
        for (const k of ["A", "B", "C", "D"]) assert.equal(at[k].state, "completed", k);
        const d = runs(`D${round}`)[0];
        assert.ok(d.started_at >= at.B.finished_at && d.started_at >= at.C.finished_at);
        const inputs = flowInputs(d);
        assert.deepEqual(inputs.parents.B.result, { label: b, pid: runs(b)[0].pid });
        assert.deepEqual(inputs.parents.C.result, { label: c, pid: runs(c)[0].pid });
      }
    } finally {
      for (const w of workers) await w.stop();
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
