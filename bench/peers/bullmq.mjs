// @ts-check
/**
 * BullMQ driver (Redis, not Postgres: it has no dead tuples, so it appears only in the
 * throughput and latency tables). Configured for throughput as BullMQ documents it: one Worker
 * with `concurrency` = the worker count, `removeOnComplete` so finished jobs do not accumulate,
 * `addBulk` for batches, ioredis connections with `maxRetriesPerRequest: null` (required for
 * workers). The queue lives under its own prefix and is obliterated on reset; nothing else in
 * Redis is touched.
 */
import { readFileSync } from "node:fs";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { serve } from "../lib/harness.mjs";

const QUEUE = "noop";
const PREFIX = "awa-bench";
const JOB_OPTS = { removeOnComplete: true, removeOnFail: 1000 };

/** @type {import("../lib/harness.mjs").InitConfig} */
let cfg;
/** @type {Queue | undefined} */
let queue;
/** @type {Worker | undefined} */
let worker;
/** @type {Redis[]} */
const connections = [];

function pkgVersion(/** @type {string} */ name) {
  const url = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")).version;
}

function connect() {
  const c = new Redis(/** @type {string} */ (cfg.redisUrl), { maxRetriesPerRequest: null });
  connections.push(c);
  return c;
}

/** @type {import("../lib/harness.mjs").Driver} */
const driver = {
  async init(c) {
    cfg = c;
    queue = new Queue(QUEUE, { connection: connect(), prefix: PREFIX });
    await queue.obliterate({ force: true });
    const redis = connections[0];
    const serverInfo = await redis.info("server");
    const redisVersion = /redis_version:(\S+)/.exec(serverInfo)?.[1] ?? "unknown";
    return {
      version: `bullmq ${pkgVersion("bullmq")} (ioredis ${pkgVersion("ioredis")}, redis ${redisVersion})`,
      runtime: `node ${process.versions.node}`,
      settings: {
        job_options: JOB_OPTS,
        worker: "new Worker(queue, handler, { concurrency: W }) — one worker, W concurrent jobs",
        insert: "queue.add() per single job; queue.addBulk() per batch",
        prefix: PREFIX,
      },
      schemas: null,
    };
  },
  async reset() {
    await worker?.close(true);
    worker = undefined;
    await queue?.obliterate({ force: true });
  },
  async insertOne(args) {
    await /** @type {Queue} */ (queue).add(QUEUE, args, JOB_OPTS);
  },
  async insertBatch(batch) {
    await /** @type {Queue} */ (queue).addBulk(
      batch.map((data) => ({ name: QUEUE, data, opts: JOB_OPTS })),
    );
  },
  async startWorkers(workers, handle) {
    worker = new Worker(
      QUEUE,
      async (job) => {
        handle(job.data);
      },
      { connection: connect(), prefix: PREFIX, concurrency: workers },
    );
    worker.on("error", (err) => console.error("[bullmq error]", err.message));
    await worker.waitUntilReady();
    return { concurrency: workers };
  },
  async stopWorkers() {
    await worker?.close();
    worker = undefined;
  },
  async close() {
    await worker?.close();
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    for (const c of connections) c.disconnect();
  },
};

serve(driver);
