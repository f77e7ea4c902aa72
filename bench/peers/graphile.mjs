/**
 * graphile-worker driver. Configured as graphile-worker's performance page recommends for
 * throughput: `concurrentJobs` = the worker count, `maxPoolSize` = concurrentJobs + 1 (at least
 * 10), the local queue (`localQueue.size`: jobs fetched and locked per round trip) and batched
 * completion/failure (`completeJobBatchDelay` / `failJobBatchDelay` = 0). Single inserts use
 * `addJob`, batches `addJobs`; both through `makeWorkerUtils`.
 */
import { readFileSync } from "node:fs";
import { serve } from "../lib/harness.mjs";

// Peer packages are loaded with a computed specifier: Node resolves them from
// bench/peers/node_modules, while `deno check bench/` (which has no such import map) skips them.
const load = (/** @type {string} */ name) => import(name);
const { Logger, makeWorkerUtils, run, runMigrations } = await load("graphile-worker");
const pg = (await load("pg")).default;

const SCHEMA = "bench_graphile";
const TASK = "bench_noop";
const LOCAL_QUEUE_SIZE = 500;

/** @type {import("../lib/harness.mjs").InitConfig} */
let cfg;
let utils;
let runner;

// Quiet logger: only warnings and errors reach stderr (which the orchestrator logs to a file).
const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`[graphile ${level}] ${message}`);
});

function pkgVersion(/** @type {string} */ name) {
  const url = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")).version;
}

/**
 * The `preset.worker` options (graphile-worker's own config names).
 * @param {number} workers
 */
function workerOptions(workers) {
  return {
    connectionString: cfg.url,
    schema: SCHEMA,
    concurrentJobs: workers,
    maxPoolSize: Math.max(10, workers + 1),
    pollInterval: 2000,
    localQueue: { size: LOCAL_QUEUE_SIZE },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
  };
}

async function setup() {
  if (!cfg.follower) {
    const c = new pg.Client({ connectionString: cfg.url });
    await c.connect();
    try {
      await c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    } finally {
      await c.end();
    }
  }
  await runMigrations({ connectionString: cfg.url, schema: SCHEMA, logger });
  utils = await makeWorkerUtils({
    connectionString: cfg.url,
    schema: SCHEMA,
    logger,
    // addJobs/addJob use this pool; sized for the concurrent-producers scenario.
    preset: { worker: { maxPoolSize: cfg.poolMax } },
  });
}

/** @type {import("../lib/harness.mjs").Driver} */
const driver = {
  async init(c) {
    cfg = c;
    await setup();
    const example = { ...workerOptions(32), connectionString: "<bench database>" };
    return {
      version: `graphile-worker ${pkgVersion("graphile-worker")} (pg ${pkgVersion("pg")})`,
      runtime: `node ${process.versions.node}`,
      settings: {
        run_options_at_32_workers: example,
        insert: "workerUtils.addJob() per single job; workerUtils.addJobs() per batch",
        producer_pool_max: cfg.poolMax,
      },
      schemas: [SCHEMA],
    };
  },
  async reset() {
    await utils?.release();
    utils = undefined;
    await setup();
  },
  async insertOne(args) {
    await utils.addJob(TASK, args);
  },
  async insertBatch(batch) {
    await utils.addJobs(
      batch.map((payload) => ({ identifier: TASK, payload })),
    );
  },
  async startWorkers(workers, handle) {
    const opts = workerOptions(workers);
    runner = await run({
      preset: { worker: opts },
      logger,
      noHandleSignals: true,
      taskList: {
        [TASK]: (payload) => {
          handle(payload);
        },
      },
    });
    return { ...opts, connectionString: undefined };
  },
  async stopWorkers() {
    await runner?.stop();
    runner = undefined;
  },
  async close() {
    await runner?.stop();
    await utils?.release();
  },
};

serve(driver);
