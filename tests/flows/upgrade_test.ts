/**
 * Upgrade from the schema before flows (every migration below 019, every SQL file but
 * `flows/`): migrate() adds the flow tables and functions, keeps the jobs already there, and a flow inserted afterwards is released
 * by the transition that completes its parent.
 */
import assert from "node:assert/strict";
import { defineJob, flowNode, insertFlow, migrate } from "../../mod.ts";
import { cancelJob } from "../../admin.ts";
import { migrateRelease, THIS_RELEASE } from "../../src/migrate.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";

const t = await testDatabase("flows_upgrade");
const sql = t.sql;
const S = "before_flows";
const job = defineJob<{ n: number }>("upgrade_flow_job");

Deno.test({
  name: "a schema from before migration 019 migrates to one where flows release their nodes",
  ...POOL_TEST,
  async fn() {
    const previous = {
      ...THIS_RELEASE,
      migrations: THIS_RELEASE.migrations.filter((m) => m.version < 19),
      files: THIS_RELEASE.files.filter((f) => !f.file.startsWith("functions/flows/")),
    };
    await migrateRelease(sql, S, previous);
    const [{ exists }] = await sql<{ exists: boolean }[]>`
      SELECT to_regclass(${S + ".flow_nodes"}) IS NOT NULL AS exists`;
    assert.equal(exists, false);
    await sql.unsafe(`SELECT ${S}.insert_job('before_upgrade')`);

    const result = await migrate(sql, { schema: S });
    assert.deepEqual(
      result.applied,
      THIS_RELEASE.migrations.map((m) => m.version).filter((v) => v >= 19),
    );
    assert.deepEqual(
      result.sqlFiles.filter((f) => f.startsWith("functions/flows/")).sort(),
      [
        "functions/flows/cancel_flow",
        "functions/flows/flow_cancel_job",
        "functions/flows/flow_job_finished",
        "functions/flows/flow_propagate",
        "functions/flows/insert_flow",
        "functions/flows/prune_finished_flows",
      ],
    );
    const [{ n }] = await sql.unsafe(`SELECT count(*)::int AS n FROM ${S}.jobs`);
    assert.equal(n, 1, "the job from before the upgrade is still there");

    // The cancel path's hook releases the child (policy continue) in the same transaction.
    const flow = await insertFlow(sql, {
      failurePolicy: "continue",
      nodes: [
        flowNode("root", job, { n: 1 }),
        flowNode("child", job, { n: 2 }, { dependsOn: ["root"] }),
      ],
    }, { schema: S });
    assert.equal(await cancelJob(sql, flow.jobIds.root, { schema: S }), true);
    const rows = await sql.unsafe<{ node_key: string; state: string }[]>(
      `SELECT node_key, state FROM ${S}.flow_nodes WHERE flow_id = $1 ORDER BY job_id`,
      [flow.flowId],
    );
    assert.deepEqual(rows.map((r) => [r.node_key, r.state]), [
      ["root", "cancelled"],
      ["child", "released"],
    ]);
    const [{ state }] = await sql.unsafe(`SELECT state::text FROM ${S}.jobs WHERE id = $1`, [
      flow.jobIds.child,
    ]);
    assert.equal(state, "available");
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
