// Request-response over the queue, across two processes: this script starts itself again with
// `--worker` as the worker process, then calls insertAndWait, which inserts a job and resolves
// with the worker's typed result once it completed. A job that fails for good rejects with
// JobFailedError; a wait that runs out of time rejects with JobWaitTimeoutError while the job
// keeps running, and waitForJob picks it up again. Needs DATABASE_URL.
//
//   deno install && deno task start
import postgres from "postgres";
import {
  Client,
  defineJob,
  insertAndWait,
  JobFailedError,
  JobWaitTimeoutError,
  migrate,
  TerminalError,
  waitForJob,
  withNoDelay,
} from "@awa/awa";

const url = Deno.env.get("DATABASE_URL");
if (!url) throw new Error("set DATABASE_URL to a PostgreSQL 15+ database");
const schema = "awa_example_rr";
const sql = postgres(url, withNoDelay({ max: 4, onnotice: () => {} }));

const quote = defineJob<
  { sku: string; qty: number },
  { sku: string; total: number; pid: number }
>(
  "quote",
  { queue: "rpc", maxAttempts: 1 },
);
const slowQuote = defineJob<{ ms: number }, { waited: number }>("slow_quote", {
  queue: "rpc",
});

if (Deno.args[0] === "--worker") {
  const client = new Client(sql, {
    schema,
    queues: { rpc: { maxWorkers: 4 } },
  });
  client.work(quote, (job) => {
    if (job.args.qty <= 0) {
      throw new TerminalError(`no quote for ${job.args.qty} items`);
    }
    return { sku: job.args.sku, total: job.args.qty * 250, pid: Deno.pid };
  });
  client.work(slowQuote, async (job) => {
    await new Promise((r) => setTimeout(r, job.args.ms));
    return { waited: job.args.ms };
  });
  await client.start();
  console.log("ready");
  for await (const _ of Deno.stdin.readable) {
    // Serves until the caller closes stdin.
  }
  await client.shutdown();
  await sql.end();
  Deno.exit(0);
}

await migrate(sql, { schema });
const worker = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL(import.meta.url).pathname, "--worker"],
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const lines = worker.stdout.pipeThrough(new TextDecoderStream()).getReader();
for (let seen = ""; !seen.includes("ready");) {
  seen += (await lines.read()).value ?? "";
}

try {
  const totals: number[] = [];
  for (const qty of [1, 2, 3]) {
    const r = await insertAndWait(sql, quote, { sku: "A-1", qty }, {
      schema,
      timeoutMs: 10_000,
    });
    if (r.total !== qty * 250 || r.pid === Deno.pid) {
      throw new Error("wrong answer");
    }
    totals.push(r.total);
  }
  console.log(`3 quotes answered by the worker process: ${totals.join(", ")}`);

  const failed = await insertAndWait(sql, quote, { sku: "A-1", qty: 0 }, {
    schema,
  })
    .catch((e) => e);
  if (!(failed instanceof JobFailedError)) {
    throw new Error(`expected JobFailedError: ${failed}`);
  }
  console.log(`a failing request: ${failed.code}, ${failed.errors[0].error}`);

  const late = await insertAndWait(sql, slowQuote, { ms: 1500 }, {
    schema,
    timeoutMs: 300,
  })
    .catch((e) => e);
  if (!(late instanceof JobWaitTimeoutError)) {
    throw new Error(`expected a timeout: ${late}`);
  }
  const again = await waitForJob(sql, slowQuote, late.jobId, {
    schema,
    timeoutMs: 10_000,
  });
  console.log(
    `timed out after 300 ms, job ${late.jobId} kept running: waited ${again.waited} ms`,
  );
} finally {
  await worker.stdin.close();
  await worker.status;
  await sql.end();
}
