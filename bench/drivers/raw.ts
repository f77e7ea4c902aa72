/**
 * The physical floor: a minimal one-table SKIP LOCKED queue, written for this bench.
 *
 * One table `bench_raw.jobs`; producers INSERT (one row, or one multi-row INSERT per batch), a
 * statement trigger NOTIFYs. One dispatcher per process claims up to its free worker permits in
 * one round trip (`UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING`),
 * and completed ids are DELETEd in batches. Same runtime and client (Deno + postgres.js) as the
 * Awa driver, so Awa ÷ raw isolates the storage design.
 */
import postgres from "postgres";
import { type Driver, type Handle, type JobArgs, serve, sleep } from "../lib/harness.mjs";
import { npmVersion } from "../lib/versions.ts";

const SCHEMA = "bench_raw";
const CLAIM_MAX = 1000;
const IDLE_POLL_MS = 250;

let sql: postgres.Sql;
let listenSql: postgres.Sql | undefined;
let running = false;
let loop: Promise<void> | undefined;
let wake: (() => void) | undefined;
let unlisten: (() => Promise<void>) | undefined;

async function migrate(): Promise<void> {
  await sql.unsafe(`
    DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE;
    CREATE SCHEMA ${SCHEMA};
    CREATE TABLE ${SCHEMA}.jobs (
      id bigserial PRIMARY KEY,
      args jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      locked_at timestamptz
    );
    CREATE INDEX jobs_ready ON ${SCHEMA}.jobs (id) WHERE locked_at IS NULL;
    CREATE FUNCTION ${SCHEMA}.notify() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN PERFORM pg_notify('bench_raw', ''); RETURN NULL; END $$;
    CREATE TRIGGER jobs_notify AFTER INSERT ON ${SCHEMA}.jobs
      FOR EACH STATEMENT EXECUTE FUNCTION ${SCHEMA}.notify();
  `);
}

function waitForWork(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      wake = undefined;
      resolve();
    }, ms);
    wake = () => {
      clearTimeout(timer);
      wake = undefined;
      resolve();
    };
  });
}

async function dispatcher(workers: number, handle: Handle): Promise<void> {
  let free = workers;
  let permitFreed: (() => void) | undefined;
  const done: string[] = [];
  let flushing: Promise<void> | undefined;

  const flush = async () => {
    while (done.length > 0) {
      const ids = done.splice(0, done.length);
      await sql`DELETE FROM ${sql(SCHEMA)}.jobs WHERE id = ANY(${ids}::bigint[])`;
    }
    flushing = undefined;
  };

  while (running) {
    if (free === 0) {
      await new Promise<void>((r) => (permitFreed = r));
      continue;
    }
    const n = Math.min(free, CLAIM_MAX);
    // `= ANY(ARRAY(subquery))` makes the locking subquery an InitPlan that runs exactly once.
    // The textbook `WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` may be planned as a
    // join that re-executes the subquery, and with SKIP LOCKED each execution can return other
    // rows, so one claim can take more than n jobs (seen here under load: more jobs than free
    // worker permits).
    const rows = await sql<{ id: string; args: JobArgs }[]>`
      UPDATE ${sql(SCHEMA)}.jobs SET locked_at = now()
      WHERE id = ANY(ARRAY(
        SELECT id FROM ${sql(SCHEMA)}.jobs WHERE locked_at IS NULL
        ORDER BY id LIMIT ${n} FOR UPDATE SKIP LOCKED
      ))
      RETURNING id, args`;
    if (rows.length === 0) {
      await waitForWork(IDLE_POLL_MS);
      continue;
    }
    free -= rows.length;
    for (const row of rows) {
      // The no-op handler: record latency, complete.
      queueMicrotask(() => {
        handle(row.args);
        done.push(row.id);
        free++;
        if (!flushing) flushing = flush();
        const p = permitFreed;
        permitFreed = undefined;
        p?.();
      });
    }
  }
  while (free < workers) await new Promise<void>((r) => (permitFreed = r));
  await (flushing ?? flush());
}

const driver: Driver = {
  async init(cfg) {
    sql = postgres(cfg.url, {
      max: cfg.poolMax,
      onnotice: () => {},
    });
    if (!cfg.follower) await migrate();
    return {
      version: `this repo (postgres.js ${npmVersion("postgres")})`,
      runtime: `deno ${Deno.version.deno}`,
      settings: {
        claim:
          "UPDATE jobs SET locked_at=now() WHERE id = ANY(ARRAY(SELECT id … WHERE locked_at IS NULL ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED)) RETURNING",
        claim_batch: `free worker permits, at most ${CLAIM_MAX}`,
        completion: "DELETE … WHERE id = ANY($ids), batched while a delete is in flight",
        wakeup: `LISTEN/NOTIFY (statement trigger) + ${IDLE_POLL_MS} ms poll`,
        pool_max: cfg.poolMax,
      },
      schemas: [SCHEMA],
    };
  },
  async reset() {
    await migrate();
  },
  async insertOne(args) {
    await sql`INSERT INTO ${sql(SCHEMA)}.jobs (args) VALUES (${sql.json(args)})`;
  },
  async insertBatch(batch) {
    await sql`INSERT INTO ${sql(SCHEMA)}.jobs (args)
      SELECT * FROM jsonb_array_elements(${sql.json(batch)})`;
  },
  async startWorkers(workers, handle) {
    listenSql = listenSql ?? sql;
    const sub = await listenSql.listen("bench_raw", () => wake?.());
    unlisten = () => sub.unlisten();
    running = true;
    loop = dispatcher(workers, handle);
    return { workers, dispatchers: 1 };
  },
  async stopWorkers() {
    running = false;
    wake?.();
    await loop;
    loop = undefined;
    await unlisten?.();
    unlisten = undefined;
  },
  async close() {
    running = false;
    await sleep(0);
    await sql?.end({ timeout: 2 });
  },
};

serve(driver);
