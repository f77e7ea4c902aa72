/**
 * The fleet scenario: N worker processes of one system against one server, fed by one producer
 * process (the system's leader driver, which installs the schema and runs no workers here).
 * Users scale out by adding processes; this measures whether total throughput and latency hold
 * as they do.
 *
 * Completion is summed over the worker processes. The drain time runs from the `start` sent to
 * every process to the latest handler start in any of them (wall clock, the same clock the
 * drivers stamp `t0` with); soak latencies are merged from every process's raw samples.
 */
import type { DriverInfo, DriverProcess } from "./client.ts";
import type { Config } from "./config.ts";
import { summarize } from "./harness.mjs";
import type { FleetResult, Latency, SystemResult } from "./types.ts";

export interface FleetEnv {
  cfg: Config;
  spawn: (role: "follower") => Promise<{ driver: DriverProcess; info: DriverInfo }>;
  progress: (phase: string, detail?: string) => void;
}

const wallMs = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const POLL_MS = 50;

async function counts(workers: DriverProcess[]): Promise<{ done: number[]; last: number }> {
  const stats = await Promise.all(workers.map((w) => w.call("stats", {}, 10_000)));
  return {
    done: stats.map((s) => Number(s.completed)),
    last: Math.max(...stats.map((s) => Number(s.last_handled_at))),
  };
}

/** Poll until the processes together have run `n` jobs; generous floor of 50 jobs/s. */
async function waitTotal(
  workers: DriverProcess[],
  n: number,
  label: string,
  env: FleetEnv,
): Promise<{ done: number[]; last: number }> {
  const deadline = performance.now() + 60_000 + n * 20;
  for (;;) {
    const c = await counts(workers);
    const total = c.done.reduce((a, b) => a + b, 0);
    env.progress(label, `${total}/${n} done over ${workers.length} processes`);
    if (total >= n) return c;
    if (performance.now() > deadline) {
      throw new Error(`fleet: only ${total} of ${n} jobs completed within the timeout`);
    }
    await sleep(POLL_MS);
  }
}

async function withWorkers<T>(
  count: number,
  env: FleetEnv,
  f: (workers: DriverProcess[]) => Promise<T>,
): Promise<T> {
  const spawned = await Promise.allSettled(
    Array.from({ length: count }, () => env.spawn("follower")),
  );
  const workers = spawned.flatMap((s) => s.status === "fulfilled" ? [s.value.driver] : []);
  try {
    const failed = spawned.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return await f(workers);
  } finally {
    await Promise.all(workers.map((w) => w.call("stop", {}, 30_000).catch(() => {})));
    await Promise.all(workers.map((w) => w.close()));
  }
}

async function fleetDrain(
  leader: DriverProcess,
  processes: number,
  label: string,
  env: FleetEnv,
): Promise<FleetResult["drain"]> {
  const { cfg } = env;
  const n = cfg.fleetDrainJobs;
  await leader.call("reset");
  return await withWorkers(processes, env, async (workers) => {
    for (let left = n; left > 0;) {
      const k = Math.min(left, cfg.batchSize * 20);
      await leader.call("enqueue_batch", { n: k, batch: cfg.batchSize });
      left -= k;
      env.progress(label, `queued ${n - left}/${n}`);
    }
    const t0 = wallMs();
    await Promise.all(workers.map((w) => w.call("start", { workers: cfg.workers })));
    const c = await waitTotal(workers, n, label, env);
    const ms = c.last - t0;
    return { n, ms, jobs_per_s: n / (ms / 1000), per_process: c.done };
  });
}

async function fleetSoak(
  leader: DriverProcess,
  processes: number,
  label: string,
  env: FleetEnv,
): Promise<FleetResult["soak"]> {
  const { cfg } = env;
  await leader.call("reset");
  return await withWorkers(processes, env, async (workers) => {
    await Promise.all(workers.map((w) => w.call("start", { workers: cfg.workers })));
    const t0 = wallMs();
    env.progress(label, `offering ${cfg.fleetSoakRate}/s for ${cfg.fleetSoakSeconds} s`);
    const offer = await leader.call(
      "offer",
      { rate: cfg.fleetSoakRate, seconds: cfg.fleetSoakSeconds },
      cfg.fleetSoakSeconds * 1000 + 600_000,
    );
    const c = await waitTotal(workers, offer.offered, label, env);
    const samples: number[] = [];
    for (const w of workers) {
      const s = await w.call("take_latency_samples", {}, 60_000);
      for (const v of s.samples as number[]) samples.push(v);
    }
    const completed = c.done.reduce((a, b) => a + b, 0);
    return {
      offered_rate: cfg.fleetSoakRate,
      seconds: cfg.fleetSoakSeconds,
      offered: offer.offered,
      completed,
      throughput: offer.offered / ((c.last - t0) / 1000),
      latency_ms: summarize(samples) as Latency,
      per_process: c.done,
    };
  });
}

/** Drain and soak at every process count of --fleet-processes. */
export async function runFleet(
  leader: DriverProcess,
  r: SystemResult,
  env: FleetEnv,
): Promise<void> {
  r.scenarios.fleet = [];
  for (const processes of env.cfg.fleetProcesses) {
    const label = `${r.label}: fleet of ${processes} worker process${processes > 1 ? "es" : ""}`;
    env.progress(label, "drain");
    const drain = await fleetDrain(leader, processes, `${label}, drain`, env);
    env.progress(label, "soak");
    const soak = await fleetSoak(leader, processes, `${label}, soak`, env);
    r.scenarios.fleet.push({ processes, workers_per_process: env.cfg.workers, drain, soak });
  }
}
