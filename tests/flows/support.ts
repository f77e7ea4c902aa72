/**
 * Helpers of the flow tests: a worker client on the test database that records every attempt,
 * and a wait until some jobs reach a final state. Not a test file itself.
 */
import { Client, defineJob, type JobDefinition, TerminalError } from "../../mod.ts";
import type { TestDatabase } from "../support/db.ts";
import { TIMINGS, waitFor } from "../support/runtime.ts";

/** Args of the test jobs: what the handler does. */
export interface StepArgs {
  /** Label written to the attempts log. */
  label: string;
  /** `fail` throws a TerminalError, `cancel` returns ctx.cancel, else the job completes. */
  action?: "complete" | "fail" | "cancel";
  /** Milliseconds to sleep first. */
  sleepMs?: number;
  /** Labels that must have started (in any process) before this job finishes. */
  barrier?: string[];
}

/** The job every flow test runs: it completes with `{ label }` unless told otherwise. */
export const step: JobDefinition<StepArgs> = defineJob<StepArgs>("flow_step", {
  queue: "flows",
  maxAttempts: 1,
});

/** Create the attempts log table in the test database. */
export async function createLog(t: TestDatabase): Promise<void> {
  await t.sql.unsafe(`CREATE TABLE IF NOT EXISTS flow_log (
    seq bigserial PRIMARY KEY, job_id bigint NOT NULL, label text NOT NULL,
    metadata jsonb NOT NULL, pid int, started_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
}

/** A started client running {@link step} with `maxWorkers` workers, logging each start. */
export async function startWorker(t: TestDatabase, maxWorkers = 4): Promise<Client> {
  const client = new Client(t.url, {
    queues: { flows: { maxWorkers } },
    heartbeat: TIMINGS.heartbeat,
    maintenance: TIMINGS.maintenance!,
  });
  client.work(step, async (job, ctx) => {
    await t.sql`INSERT INTO flow_log (job_id, label, metadata)
      VALUES (${job.id}, ${job.args.label}, ${t.sql.json(job.metadata as never)})`;
    if (job.args.sleepMs) await new Promise((r) => setTimeout(r, job.args.sleepMs));
    if (job.args.action === "fail") throw new TerminalError("told to");
    if (job.args.action === "cancel") return ctx.cancel("told to");
    return { label: job.args.label };
  });
  await client.start();
  return client;
}

/** Wait until flow `flowId` has no waiting or released node. */
export async function flowFinished(
  t: TestDatabase,
  flowId: number,
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(`flow ${flowId} finished`, async () => {
    const [{ n }] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM awa.flow_nodes
      WHERE flow_id = ${flowId} AND state IN ('waiting', 'released')`;
    return n === 0;
  }, timeoutMs);
}

/** Node states of a flow by node id. */
export async function nodeStates(t: TestDatabase, flowId: number): Promise<Record<string, string>> {
  const rows = await t.sql<{ node_key: string; state: string }[]>`
    SELECT node_key, state FROM awa.flow_nodes WHERE flow_id = ${flowId}`;
  return Object.fromEntries(rows.map((r) => [r.node_key, r.state]));
}
