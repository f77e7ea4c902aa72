// Follow-ups, flows and batches. An order job declares a receipt as its follow-up (enqueued in
// the transaction that completes the order, with the order's result); a diamond flow fetches,
// resizes twice in parallel and publishes once both are done, seeing both results; a batch of
// ten gets one callback with the counts. Needs DATABASE_URL.
//
//   deno install && deno task start
import postgres from "postgres";
import {
  admin,
  Client,
  defineJob,
  flowInputs,
  flowNode,
  followUp,
  insert,
  insertBatch,
  insertFlow,
  migrate,
  withNoDelay,
} from "@awa/awa";

const url = Deno.env.get("DATABASE_URL");
if (!url) throw new Error("set DATABASE_URL to a PostgreSQL 15+ database");
const schema = "awa_example_flows";
const sql = postgres(url, withNoDelay({ max: 5, onnotice: () => {} }));
await migrate(sql, { schema });

const order = defineJob<{ orderId: number }>("order", { queue: "shop" });
const receipt = defineJob<{ orderId: number }>("receipt", { queue: "shop" });
const fetchImage = defineJob<{ url: string }>("fetch_image", {
  queue: "media",
});
const resize = defineJob<{ size: number }>("resize", { queue: "media" });
const publish = defineJob<Record<string, never>>("publish", { queue: "media" });
const ping = defineJob<{ n: number }>("ping", { queue: "media" });
const report = defineJob<Record<string, never>>("report", { queue: "media" });

let finished!: () => void;
const allDone = new Promise<void>((r) => finished = r);
let pending = 3;
const done = () => --pending === 0 && finished();

const client = new Client(sql, {
  schema,
  queues: { shop: {}, media: { maxWorkers: 8 } },
});
client.work(order, (job) => ({ total: 42, orderId: job.args.orderId }));
client.work(receipt, (job) => {
  const parent = flowInputs(job).parents.parent;
  console.log(
    `receipt for order ${job.args.orderId}: parent ${parent.state}`,
    parent.result,
  );
  done();
});
client.work(fetchImage, (job) => ({ bytes: job.args.url.length * 1000 }));
client.work(resize, (job) => ({ size: job.args.size }));
client.work(publish, (job) => {
  const p = flowInputs(job).parents;
  console.log(
    "publish after",
    Object.keys(p).sort().join(" and "),
    p.small.result,
    p.large.result,
  );
  done();
});
client.work(ping, (job) => job.args.n);
client.work(report, (job) => {
  console.log("batch finished:", flowInputs(job).batch);
  done();
});
await client.start();

await insert(sql, order, { orderId: 7 }, {
  schema,
  followUps: { onComplete: [followUp(receipt, { orderId: 7 })] },
});
const flow = await insertFlow(sql, {
  name: "image",
  nodes: [
    flowNode("fetch", fetchImage, { url: "https://example.com/a.png" }),
    flowNode("small", resize, { size: 64 }, { dependsOn: ["fetch"] }),
    flowNode("large", resize, { size: 1024 }, { dependsOn: ["fetch"] }),
    flowNode("publish", publish, {}, { dependsOn: ["small", "large"] }),
  ],
}, { schema });
await insertBatch(sql, ping, Array.from({ length: 10 }, (_, n) => ({ n })), {
  schema,
  onFinished: followUp(report, {}),
});

await allDone;
await client.shutdown();
const detail = await admin.getFlow(sql, flow.flowId, { schema });
console.log(
  `flow ${detail.id} is ${detail.state}:`,
  detail.nodeList.map((n) => `${n.node}=${n.state}`).join(", "),
);
if (detail.state !== "completed") throw new Error("the flow did not complete");
await sql.end();
