// Awa's HTTP worker and callback receiver, all on one machine (Node 20 or later):
// - a "serverless function" (a plain HTTP server) that accepts a job at once and calls back a
//   little later: a heartbeat, then the result;
// - the worker, which POSTs each job to the function and parks it (no worker slot held);
// - the signed callback receiver, mounted in node:http through toNodeListener.
// The program exits once every job has completed. Needs DATABASE_URL.
//
//   npm install @awa/awa postgres && npm start
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import process from "node:process";
import postgres from "postgres";
import { Client, defineJob, insertMany, migrate, withNoDelay } from "@awa/awa";
import { getJob } from "@awa/awa/admin";
import { callbackReceiver, httpWorker, toNodeListener } from "@awa/awa/http";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("set DATABASE_URL to a PostgreSQL 15+ database");
  process.exit(2);
}
const schema = "awa_example_http";
const sql = postgres(url, withNoDelay({ max: 5, onnotice: () => {} }));
await migrate(sql, { schema });

/** Listen on 127.0.0.1, on a port the system picks; resolves to the server's base URL. */
function listen(server) {
  return new Promise((resolve) => {
    server.listen(
      0,
      "127.0.0.1",
      () => resolve(`http://127.0.0.1:${server.address().port}`),
    );
  });
}

async function readJson(req) {
  let text = "";
  for await (const chunk of req) text += chunk;
  return JSON.parse(text);
}

// 1. The callback receiver. The secret is shared by the worker and the receiver only.
const secret = randomBytes(32);
const receiver = createServer(
  toNodeListener(callbackReceiver({ db: sql, secret, schema })),
);
const receiverUrl = await listen(receiver);

// 2. The "serverless function": answers 202 at once, then works and calls back. It echoes the
// X-Awa-Signature it was given; it never sees the secret.
const sibling = (callbackUrl, action) => callbackUrl.replace(/\/complete$/, `/${action}`);
async function callBack(target, signature, body) {
  const res = await fetch(target, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-awa-signature": signature,
    },
    body: JSON.stringify(body),
  });
  const answer = await res.json();
  console.log(
    `function: ${target.split("/").at(-1)} → ${res.status} ${JSON.stringify(answer)}`,
  );
}
const fn = createServer(async (req, res) => {
  const job = await readJson(req);
  const signature = req.headers["x-awa-signature"];
  res.writeHead(202, { "content-type": "application/json" }).end(
    '{"accepted":true}',
  );
  console.log(
    `function: got job ${job.job_id} (${job.kind}, attempt ${job.attempt})`,
  );
  setTimeout(async () => {
    await callBack(sibling(job.callback_url, "heartbeat"), signature, {
      timeout_seconds: 60,
    });
    const frames = job.args.frames;
    await callBack(job.callback_url, signature, {
      payload: { scene: job.args.scene, frames },
    });
  }, 300);
});
const fnUrl = await listen(fn);

// 3. The worker: each render job goes to the function and waits there without a slot.
const render = defineJob("render_scene", { queue: "render", maxAttempts: 3 });
const client = new Client(sql, {
  schema,
  queues: { render: { maxWorkers: 2, pollIntervalMs: 100 } },
  maintenance: { promote: { intervalMs: 100 } },
});
client.work(
  render,
  httpWorker({
    url: `${fnUrl}/render`,
    mode: "async",
    callbackBaseUrl: receiverUrl,
    callbackTimeoutMs: 60_000,
    hmacSecret: secret,
  }),
);
await client.start();

const { ids } = await insertMany(sql, render, [
  { args: { scene: "intro", frames: 240 } },
  { args: { scene: "credits", frames: 96 } },
  { args: { scene: "finale", frames: 480 } },
], { schema });

// Parked jobs complete in the receiver's transaction: watch their state through the admin API.
const deadline = Date.now() + 60_000;
let states = [];
for (;;) {
  states = await Promise.all(
    ids.map(async (id) => (await getJob(sql, id, { schema })).state),
  );
  if (states.every((s) => s === "completed") || Date.now() > deadline) break;
  await new Promise((r) => setTimeout(r, 100));
}

await client.shutdown();
for (const server of [fn, receiver]) {
  const closed = new Promise((r) => server.close(r));
  server.closeAllConnections();
  await closed;
}
await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
await sql.end();

console.log(
  `http-worker example: ${ids.map((id, i) => `${id}: ${states[i]}`).join(", ")}`,
);
process.exit(states.every((s) => s === "completed") ? 0 : 1);
