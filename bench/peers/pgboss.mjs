/**
 * pg-boss driver. Configured for throughput as pg-boss documents it: LISTEN/NOTIFY on
 * (`useListenNotify` + a queue created with `notify: true`), batch fetches (`batchSize`) with
 * `burstWhenBatchFull` so a full fetch is followed by another without waiting out the polling
 * interval, the minimum polling interval (0.5 s, also while NOTIFY is active, where the default
 * is 30 s), several fetch loops (`localConcurrency`), and batch insert with `insert()`. Everything else is the pg-boss default (job retention, maintenance).
 */
import { readFileSync } from "node:fs";
import { serve } from "../lib/harness.mjs";

// Peer packages are loaded with a computed specifier: Node resolves them from
// bench/peers/node_modules, while `deno check bench/` (which has no such import map) skips them.
const load = (/** @type {string} */ name) => import(name);
const { PgBoss } = await load("pg-boss");
const pg = (await load("pg")).default;

const SCHEMA = "bench_pgboss";
const QUEUE = "bench_noop";
const POLL_S = 0.5;

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
    if (!c.follower) await dropSchema();
    await startBoss();
    return {
      version: `pg-boss ${pkgVersion("pg-boss")} (pg ${pkgVersion("pg")})`,
      runtime: `node ${process.versions.node}`,
      settings: {
        constructor: { ...bossOptions(), connectionString: "<bench database>" },
        queue: { name: QUEUE, notify: true, policy: "standard (default)" },
        work: "batchSize/localConcurrency set per worker count (see start settings)",
        pollingIntervalSeconds: POLL_S,
        notifyPollingIntervalSeconds: POLL_S,
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
    await boss.send(QUEUE, args);
  },
  async insertBatch(batch) {
    await boss.insert(QUEUE, batch.map((data) => ({ data })));
  },
  async startWorkers(workers, handle) {
    // W concurrent handlers = localConcurrency fetch loops × batchSize jobs per fetch. batchSize
    // is kept ≥ 2 where W allows, because burstWhenBatchFull (fetch again at once after a full
    // batch) is ignored at batchSize 1; a fetch loop at batchSize 1 waits out the polling interval
    // after every job.
    const localConcurrency = workers >= 4 ? Math.min(4, Math.floor(workers / 2)) : 1;
    const batchSize = Math.max(1, Math.ceil(workers / localConcurrency));
    workSettings = {
      localConcurrency,
      batchSize,
      pollingIntervalSeconds: POLL_S,
      notifyPollingIntervalSeconds: POLL_S,
      burstWhenBatchFull: batchSize > 1,
    };
    await boss.work(
      QUEUE,
      workSettings,
      /** @param {{ data: any }[]} jobs */
      (jobs) => {
        for (const job of jobs) handle(job.data);
        return Promise.resolve();
      },
    );
    return workSettings;
  },
  async stopWorkers() {
    await boss.offWork(QUEUE, { wait: true });
  },
  async close() {
    await boss?.stop({ graceful: true, close: true, timeout: 5000 });
    boss = undefined;
  },
};

serve(driver);
