/**
 * Runs the second-language enqueue examples (psql, Python + psycopg 3) against real databases and
 * checks the jobs landed. A missing runtime makes the test show up as ignored, with the reason in
 * its name; it never reports a pass for something that did not run.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { testDatabase } from "../support/db.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const PSQL = "/usr/bin/psql";
const PYTHON = "/usr/bin/python3";

function probe(cmd: string, args: string[]): string | null {
  try {
    const out = new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).outputSync();
    return out.success ? null : new TextDecoder().decode(out.stderr).trim().split("\n").pop()!;
  } catch (err) {
    return (err as Error).message;
  }
}

const psqlMissing = probe(PSQL, ["--version"]);
const psycopgMissing = probe(PYTHON, ["-c", "import psycopg"]);

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `${cmd} failed (${out.code}):\n${stdout}\n${stderr}`);
  return stdout;
}

interface Landed {
  kind: string;
  queue: string;
  state: string;
  priority: number;
  enqueue_shard: number | null;
  unique_key: string | null;
  args: Record<string, unknown>;
}

async function landed(db: Awaited<ReturnType<typeof testDatabase>>): Promise<Landed[]> {
  return await db.sql<Landed[]>`
    SELECT j.kind, j.queue, j.state::text, j.priority, r.enqueue_shard,
      encode(j.unique_key, 'hex') AS unique_key, j.args
    FROM awa.jobs j LEFT JOIN awa.ready_entries r ON r.job_id = j.id ORDER BY j.id`;
}

if (psqlMissing) {
  Deno.test({
    name: `examples/enqueue.psql (skipped: psql not runnable at ${PSQL}: ${psqlMissing})`,
    ignore: true,
    fn() {},
  });
} else {
  Deno.test({
    name: "examples/enqueue.psql enqueues through awa.insert_job",
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const db = await testDatabase("example_psql");
      try {
        await run(PSQL, [
          "-X",
          "-q",
          "-v",
          "ON_ERROR_STOP=1",
          "-f",
          `${here}/enqueue.psql`,
          db.url,
        ]);
        const jobs = await landed(db);
        assert.equal(jobs.length, 5, JSON.stringify(jobs));
        assert.deepEqual(jobs.map((j) => [j.kind, j.queue, j.state]), [
          ["send_email", "email", "available"],
          ["send_email", "email", "available"],
          ["send_email", "email", "scheduled"],
          ["send_email", "email", "available"],
          ["sync_customer", "customer-updates", "available"],
        ]);
        assert.equal(jobs[1].priority, 1);
        assert.equal(jobs[3].unique_key, "93c3005f70fde2c5aa06779be3818fd1");
        assert.equal(jobs[4].enqueue_shard, 0, "customer-42 → shard 0 of 4");
      } finally {
        await db.close();
      }
    },
  });
}

if (psycopgMissing) {
  Deno.test({
    name: `examples/enqueue.py (skipped: psycopg not installed for ${PYTHON}: ${psycopgMissing})`,
    ignore: true,
    fn() {},
  });
} else {
  Deno.test({
    name: "examples/enqueue.py enqueues through awa.insert_job with psycopg 3",
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const db = await testDatabase("example_python");
      try {
        const out = JSON.parse(await run(PYTHON, [`${here}/enqueue.py`, db.url]));
        assert.equal(out.duplicate, null, "on_conflict skip returned no row");
        assert.equal(out.keyed.enqueue_shard, out.expected_shard);
        assert.equal(out.expected_shard, 0);
        assert.deepEqual(out.invalid_priority.sqlstate, "23514");
        const jobs = await landed(db);
        assert.deepEqual(jobs.map((j) => [j.kind, j.queue, j.state]), [
          ["send_email", "email", "available"],
          ["send_email", "email", "available"],
          ["sync_customer", "customer-updates", "available"],
        ]);
        assert.equal(jobs[1].unique_key, "93c3005f70fde2c5aa06779be3818fd1");
        assert.deepEqual(jobs[1].args, { to: "alice@example.com", subject: "Welcome" });
        assert.equal(jobs[2].enqueue_shard, 0);
        assert.equal(jobs[2].priority, 1);
      } finally {
        await db.close();
      }
    },
  });
}
