/**
 * Least-privilege access levels (issue 11, item 8). Login roles get one level each through
 * grantAccess; each then connects on its own and does what the level allows, and is refused
 * the rest with a typed error and nothing written: a producer only enqueues (insert_job runs
 * as the schema owner), an observer only reads, an operator runs the admin layer, a worker
 * runs a Client with maintenance. A role that merely sees the schema cannot call insert_job,
 * and grants survive migrate() re-applying insert_job's file.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  Client,
  DatabaseError,
  defineJob,
  insert,
  insertMany,
  migrate,
  PermissionDeniedError,
  ValidationError,
} from "../../mod.ts";
import {
  grantAccess,
  listRuntimes,
  pause,
  queueStats,
  resume,
  storageStatus,
} from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("admin_roles_access");
const sql = t.sql;
const suffix = `${Deno.pid}_${Date.now() % 100000}`;
const role = (level: string) => `awa_t_${level}_${suffix}`;
const PASSWORD = "awa-test-pw";
const LEVELS = ["producer", "observer", "operator", "worker", "bystander"] as const;

for (const level of LEVELS) {
  await sql.unsafe(`CREATE ROLE ${role(level)} LOGIN PASSWORD '${PASSWORD}'`);
}
const job = defineJob<{ n: number }>("roles_job", { queue: "roles_q" });

function connectAs(level: string) {
  const u = new URL(t.url);
  u.username = role(level);
  u.password = PASSWORD;
  return { url: u.toString(), sql: t.connect({ user: u.username, password: PASSWORD, max: 2 }) };
}

const metaRows = async () =>
  (await sql`SELECT queue, paused FROM awa.queue_meta ORDER BY queue`).map((r) =>
    `${r.queue}:${r.paused}`
  );
const jobCount = async () => Number((await sql`SELECT count(*) AS n FROM awa.jobs`)[0].n);

Deno.test({
  name: "grantAccess validates its input and grants nothing on error",
  ...POOL_TEST,
  async fn() {
    await assert.rejects(() => grantAccess(sql, {}), ValidationError);
    await assert.rejects(() => grantAccess(sql, { producer: [] }), ValidationError);
    await assert.rejects(() => grantAccess(sql, { producer: "" }), ValidationError);
    await assert.rejects(
      () => grantAccess(sql, { reader: role("observer") } as unknown as { observer: string }),
      ValidationError,
    );
    await assert.rejects(
      () => grantAccess(sql, { observer: [role("observer"), "awa_t_no_such_role"] }),
      (e) => e instanceof DatabaseError && e.sqlState === "42704",
    );
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM information_schema.role_table_grants
      WHERE grantee = ${role("observer")}`;
    assert.equal(n, 0, "the failed call granted nothing");

    await grantAccess(sql, {
      producer: role("producer"),
      observer: [role("observer")],
      operator: role("operator"),
      worker: role("worker"),
    });
    await sql.unsafe(`GRANT USAGE ON SCHEMA awa TO ${role("bystander")}`);
    await sql.unsafe(`GRANT SELECT ON awa.schema_version, awa.runtime_requirements
      TO ${role("bystander")}`);
    // Idempotent.
    await grantAccess(sql, { producer: role("producer") });
  },
});

Deno.test({
  name: "a producer enqueues through insert and insert_job and can do nothing else",
  ...POOL_TEST,
  async fn() {
    const p = connectAs("producer").sql;
    const before = await jobCount();
    const { id } = await insert(p, job, { n: 1 });
    assert.ok(id > 0);
    const [row] = await p`SELECT id FROM awa.insert_job('roles_job', '{"n": 2}', 'roles_q')`;
    assert.ok(Number(row.id) > id);
    assert.equal(await jobCount(), before + 2);

    await assert.rejects(() => p`SELECT count(*) FROM awa.ready_entries`, /permission denied/);
    await assert.rejects(() => p`SELECT * FROM awa.jobs LIMIT 1`, /permission denied/);
    const metas = await metaRows();
    await assert.rejects(() => pause(p, "roles_q"), PermissionDeniedError);
    await assert.rejects(() => queueStats(p, "roles_q"), PermissionDeniedError);
    await assert.rejects(() => storageStatus(p), PermissionDeniedError);
    // insertMany's COPY path writes the tables itself: refused, typed, nothing written.
    await assert.rejects(
      () => insertMany(p, job, [{ args: { n: 3 } }, { args: { n: 4 } }]),
      PermissionDeniedError,
    );
    assert.deepEqual(await metaRows(), metas);
    assert.equal(await jobCount(), before + 2);
  },
});

Deno.test({
  name: "an observer reads stats, runtimes, storage and jobs, and every write is refused",
  ...POOL_TEST,
  async fn() {
    const o = connectAs("observer").sql;
    const stats = await queueStats(o, "roles_q");
    assert.equal(stats.counts.available, 2);
    assert.ok(Array.isArray(await listRuntimes(o)));
    assert.equal((await storageStatus(o)).rings.length, 2);
    assert.equal((await o`SELECT count(*)::int AS n FROM awa.jobs`)[0].n, 2);

    const metas = await metaRows();
    const before = await jobCount();
    await assert.rejects(() => pause(o, "roles_q"), PermissionDeniedError);
    await assert.rejects(() => resume(o, "roles_q"), PermissionDeniedError);
    await assert.rejects(() => insert(o, job, { n: 9 }), PermissionDeniedError);
    await assert.rejects(
      () => o`SELECT awa.cancel_job(id) FROM awa.jobs LIMIT 1`,
      /permission denied/,
    );
    await assert.rejects(() => o`DELETE FROM awa.queue_meta`, /permission denied/);
    assert.deepEqual(await metaRows(), metas);
    assert.equal(await jobCount(), before);
  },
});

Deno.test({
  name: "an operator pauses, resumes, reads and cancels, but cannot TRUNCATE",
  ...POOL_TEST,
  async fn() {
    const op = connectAs("operator").sql;
    assert.equal((await pause(op, "roles_q")).changed, true);
    assert.equal((await queueStats(op, "roles_q")).paused, true);
    assert.equal((await resume(op, "roles_q")).changed, true);
    assert.ok(Array.isArray(await listRuntimes(op)));
    assert.equal((await storageStatus(op)).rings.length, 2);
    const [{ id }] =
      await op`SELECT id FROM awa.jobs WHERE state = 'available' ORDER BY id LIMIT 1`;
    const [{ r }] = await op`SELECT awa.cancel_job(${id}) AS r`;
    assert.equal(r, "cancelled");
    await assert.rejects(() => op`TRUNCATE awa.ready_entries_3`, /permission denied/);
  },
});

Deno.test({
  name: "a worker runs a Client, maintenance included, to completion",
  ...POOL_TEST,
  async fn() {
    const w = connectAs("worker");
    const done = new Set<number>();
    const client = new Client(w.url, { queues: { roles_q: { maxWorkers: 2 } }, ...TIMINGS });
    client.work(job, ({ id }) => void done.add(id));
    await client.start();
    try {
      const ids = await insertMany(
        w.sql,
        job,
        Array.from({ length: 10 }, (_, n) => ({ args: { n } })),
      );
      await waitFor(
        "the worker's jobs to complete",
        () => ids.ids.every((i) => i !== null && done.has(i)),
      );
      await waitFor(
        "the worker to lead maintenance",
        async () => (await listRuntimes(sql)).some((r) => r.leader),
      );
      const s = await waitFor("a prune by the worker's leader", async () => {
        const st = await storageStatus(sql);
        return st.rings.every((r) => r.prune) ? st : undefined;
      });
      assert.ok(s.rings.every((r) => r.prune!.outcome !== undefined));
    } finally {
      await client.shutdown({ timeoutMs: 5000 });
    }
  },
});

Deno.test({
  name: "insert_job is not executable by PUBLIC, and grants survive migrate() re-applying it",
  ...POOL_TEST,
  async fn() {
    const b = connectAs("bystander").sql;
    await assert.rejects(
      () => b`SELECT id FROM awa.insert_job('roles_job', '{}', 'roles_q')`,
      /permission denied for function insert_job/,
    );
    await assert.rejects(() => insert(b, job, { n: 1 }), PermissionDeniedError);
    const [fn] = await sql`SELECT p.prosecdef, p.proconfig FROM pg_proc p
      WHERE p.oid = 'awa.insert_job'::regproc`;
    assert.equal(fn.prosecdef, true);
    assert.deepEqual(fn.proconfig, ["search_path=pg_catalog, pg_temp"]);

    await sql`DELETE FROM awa.sql_file_digests WHERE file = 'functions/enqueue/insert_job'`;
    const r = await migrate(sql);
    assert.deepEqual(r.sqlFiles, ["functions/enqueue/insert_job"]);
    const p = connectAs("producer").sql;
    assert.ok((await insert(p, job, { n: 5 })).id > 0);
    await assert.rejects(
      () => b`SELECT id FROM awa.insert_job('roles_job', '{}', 'roles_q')`,
      /permission denied/,
    );
  },
});

Deno.test({
  name: "close admin_roles_access database and drop its roles",
  ...POOL_TEST,
  async fn() {
    const server = new URL(t.url);
    server.pathname = "/postgres";
    await t.close();
    const admin = postgres(server.toString(), { max: 1, onnotice: () => {} });
    try {
      for (const level of LEVELS) await admin.unsafe(`DROP ROLE IF EXISTS ${role(level)}`);
    } finally {
      await admin.end();
    }
  },
});
