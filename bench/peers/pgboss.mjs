// @ts-check
/**
 * pg-boss driver. Configured for throughput as pg-boss documents it: LISTEN/NOTIFY on
 * (`useListenNotify` + a queue created with `notify: true`), batch fetches (`batchSize`) with
 * `burstWhenBatchFull` so a full fetch is followed by another without waiting out the polling
 * interval, the minimum polling interval (0.5 s), several fetch loops (`localConcurrency`), and
 * batch insert with `insert()`. Everything else is the pg-boss default (job retention, maintenance).
 */
import { readFileSync } from "node:fs";
import { PgBoss } from "pg-boss";
import pg from "pg";
import { serve } from "../lib/harness.mjs";

const SCHEMA = "bench_pgboss";
const QUEUE = "bench_noop";
const POLL_S = 0.5;

/** @type {PgBoss | undefined} */
let boss;
/** @type {import("../lib/harness.mjs").InitConfig} */
let cfg;
/** @type {Record<string, unknown>} */
let workSettings = {};

function pkgVersion(/** @type {string} */ name) {
  const url = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")).version;
}

function bossOptions() {
  return {
    connectionString: cfg.url,
    schema: SCHEMA,
    max: cfg.poolMax,
    useListenNotify: true,
  };
}

async function startBoss() {
  const b = new PgBoss(bossOptions());
  b.on("error", (err) => console.error("[pg-boss error]", err?.message ?? err));
  await b.start();
  await b.createQueue(QUEUE, { notify: true });
  boss = b;
}

async function dropSchema() {
  const c = new pg.Client({ connectionString: cfg.url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  } finally {
    await c.end();
  }
}

/** @type {import("../lib/harness.mjs").Driver} */
const driver = {
  async init(c) {
    cfg = c;
    await dropSchema();
    await startBoss();
    return {
      version: `pg-boss ${pkgVersion("pg-boss")} (pg ${pkgVersion("pg")})`,
      runtime: `node ${process.versions.node}`,
      settings: {
        constructor: { ...bossOptions(), connectionString: "<bench database>" },
        queue: { name: QUEUE, notify: true, policy: "standard (default)" },
        work: "batchSize/localConcurrency set per worker count (see start settings)",
        pollingIntervalSeconds: POLL_S,
        burstWhenBatchFull: true,
        insert: "boss.insert(queue, jobs) per batch; boss.send() per single job",
      },
      schemas: [SCHEMA],
    };
  },
  async reset() {
    await boss?.stop({ graceful: false, close: true, timeout: 5000 });
    boss = undefined;
    await dropSchema();
    await startBoss();
  },
  async insertOne(args) {
    await /** @type {PgBoss} */ (boss).send(QUEUE, args);
  },
  async insertBatch(batch) {
    await /** @type {PgBoss} */ (boss).insert(QUEUE, batch.map((data) => ({ data })));
  },
  async startWorkers(workers, handle) {
    // W concurrent handlers = localConcurrency fetch loops × batchSize jobs per fetch.
    const localConcurrency = Math.min(workers, 4);
    const batchSize = Math.max(1, Math.ceil(workers / localConcurrency));
    workSettings = {
      localConcurrency,
      batchSize,
      pollingIntervalSeconds: POLL_S,
      burstWhenBatchFull: batchSize > 1,
    };
    await /** @type {PgBoss} */ (boss).work(
      QUEUE,
      workSettings,
      /** @param {{ data: any }[]} jobs */
      async (jobs) => {
        for (const job of jobs) handle(job.data);
      },
    );
    return workSettings;
  },
  async stopWorkers() {
    await /** @type {PgBoss} */ (boss).offWork(QUEUE, { wait: true });
  },
  async close() {
    await boss?.stop({ graceful: true, close: true, timeout: 5000 });
    boss = undefined;
  },
};

serve(driver);
