/**
 * BullMQ on PostgreSQL: the same `bullmq` package as the Redis driver, with its PostgreSQL
 * backend (`withBackend(createPostgresBackend)`, BullMQ 6.7+) in its own schema. Same settings as
 * the Redis driver: one Worker with `concurrency` = the worker count, `removeOnComplete`, `addBulk`
 * for batches. The schema is created by BullMQ's own `runMigrations` on a dedicated connection and
 * dropped on reset. When the installed bullmq has no PostgreSQL backend, `init` says so and the
 * orchestrator lists the system as skipped with that reason.
 */
import { readFileSync } from "node:fs";
import { serve } from "../lib/harness.mjs";

// Peer packages are loaded with a computed specifier: Node resolves them from
// bench/peers/node_modules, while `deno check bench/` (which has no such import map) skips them.
const load = (/** @type {string} */ name) => import(name);
const bullmq = await load("bullmq");
const pg = (await load("pg")).default;

const SCHEMA = "bench_bullmq";
const QUEUE = "noop";
const JOB_OPTS = { removeOnComplete: true, removeOnFail: 1000 };

/** @type {import("../lib/harness.mjs").InitConfig} */
let cfg;
/** @type {{ Queue: any, Worker: any }} */
let classes;
let queue;
let worker;

function pkgVersion(/** @type {string} */ name) {
  const url = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")).version;
}

/** The `connection` option of every Queue and Worker: a pool config carrying the schema. */
function connection() {
  return { connectionString: cfg.url, schema: SCHEMA, max: cfg.poolMax };
}

async function withClient(/** @type {(c: any) => Promise<unknown>} */ f) {
  const c = new pg.Client({ connectionString: cfg.url });
  await c.connect();
  try {
    await f(c);
  } finally {
    await c.end();
  }
}

async function install() {
  await withClient(async (c) => {
    await c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await bullmq.runMigrations(c, SCHEMA);
  });
  queue = new classes.Queue(QUEUE, { connection: connection() });
  await queue.waitUntilReady();
}

async function closeAll() {
  await worker?.close();
  worker = undefined;
  await queue?.close();
  queue = undefined;
}

/** @type {import("../lib/harness.mjs").Driver} */
const driver = {
  async init(c) {
    cfg = c;
    const version = pkgVersion("bullmq");
    if (
      typeof bullmq.createPostgresBackend !== "function" || typeof bullmq.withBackend !== "function"
    ) {
      return {
        version: `bullmq ${version}`,
        runtime: `node ${process.versions.node}`,
        settings: {},
        schemas: null,
        unsupported:
          `bullmq ${version} (bench/peers) exports no PostgreSQL backend (createPostgresBackend / withBackend)`,
      };
    }
    classes = bullmq.withBackend(bullmq.createPostgresBackend);
    if (!c.follower) await install();
    else {
      queue = new classes.Queue(QUEUE, { connection: connection() });
      await queue.waitUntilReady();
    }
    return {
      version: `bullmq ${version} PostgreSQL backend (pg ${
        pkgVersion("pg")
      }, schema version ${bullmq.LATEST_SCHEMA_VERSION})`,
      runtime: `node ${process.versions.node}`,
      settings: {
        backend: "withBackend(createPostgresBackend)",
        connection: { ...connection(), connectionString: "<bench database>" },
        job_options: JOB_OPTS,
        worker: "new Worker(queue, handler, { concurrency: W }) — one worker, W concurrent jobs",
        insert: "queue.add() per single job; queue.addBulk() per batch",
      },
      schemas: [SCHEMA],
    };
  },
  async reset() {
    await closeAll();
    await install();
  },
  async insertOne(args) {
    await queue.add(QUEUE, args, JOB_OPTS);
  },
  async insertBatch(batch) {
    await queue.addBulk(batch.map((data) => ({ name: QUEUE, data, opts: JOB_OPTS })));
  },
  async startWorkers(workers, handle) {
    worker = new classes.Worker(
      QUEUE,
      (/** @type {{ data: any }} */ job) => {
        handle(job.data);
        return Promise.resolve();
      },
      { connection: connection(), concurrency: workers },
    );
    worker.on(
      "error",
      (/** @type {Error} */ err) => console.error("[bullmq-pg error]", err.message),
    );
    await worker.waitUntilReady();
    return { concurrency: workers };
  },
  async stopWorkers() {
    await worker?.close();
    worker = undefined;
  },
  async close() {
    await closeAll();
  },
};

serve(driver);
