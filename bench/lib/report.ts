/** Targets, sanity checks, the Markdown summary and the hand-written SVG chart. */
import type {
  RunResult,
  SeriesPoint,
  SoakResult,
  SystemId,
  SystemResult,
  Target,
} from "./types.ts";

const PEERS: SystemId[] = ["pgboss", "graphile", "bullmq", "bullmq_pg"];

function sys(r: RunResult, id: SystemId): SystemResult | undefined {
  const s = r.systems.find((x) => x.id === id);
  return s && s.status !== "skipped" ? s : undefined;
}

function bestDrain(s: SystemResult | undefined): number | undefined {
  const d = s?.scenarios.drain;
  if (!d || d.length === 0) return undefined;
  return Math.max(...d.map((x) => x.jobs_per_s));
}

export function fmt(v: number | null | undefined, digits?: number): string {
  if (v == null || !Number.isFinite(v)) return "–";
  if (digits !== undefined) return v.toFixed(digits);
  const a = Math.abs(v);
  if (a >= 100) return Math.round(v).toLocaleString("en-US");
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return "0";
  return v.toPrecision(2);
}

function ratio(a: number | null | undefined, b: number | null | undefined): string {
  if (a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return a === 0 && b === 0 ? "=" : "–";
  }
  return `${fmt(a / b)}×`;
}

// ---------------------------------------------------------------------------------------------
// Targets (reported, never asserted).

export function summarizeTargets(r: RunResult): Target[] {
  const awa = sys(r, "awa");
  const gw = sys(r, "graphile");
  const pb = sys(r, "pgboss");
  const out: Target[] = [];
  const na = (name: string, why: string): Target => ({ name, detail: why, status: "n/a" });
  const judge = (name: string, ok: boolean, detail: string): Target => ({
    name,
    detail,
    status: ok ? "met" : "not met",
  });

  const awaDrain = bestDrain(awa);
  for (const [peer, factor, label] of [[gw, 2, "graphile-worker"], [pb, 4, "pg-boss"]] as const) {
    const name = `drain ≥ ${factor}× ${label}`;
    const p = bestDrain(peer);
    if (awaDrain === undefined || p === undefined) out.push(na(name, "not measured in this run"));
    else {
      out.push(
        judge(
          name,
          awaDrain >= factor * p,
          `best over worker counts: Awa ${fmt(awaDrain)}/s vs ${fmt(p)}/s = ${fmt(awaDrain / p)}×`,
        ),
      );
    }
  }

  {
    const name = "pickup p95 ≤ graphile-worker";
    const a = awa?.scenarios.pickup?.latency_ms.p95;
    const g = gw?.scenarios.pickup?.latency_ms.p95;
    if (a == null || g == null) out.push(na(name, "not measured in this run"));
    else out.push(judge(name, a <= g, `Awa ${fmt(a)} ms vs ${fmt(g)} ms`));
  }

  {
    const a = awa?.scenarios.enqueue?.batch.jobs_per_s;
    const name1 = "COPY enqueue ≥ 100k jobs/s";
    if (a == null) out.push(na(name1, "not measured in this run"));
    else out.push(judge(name1, a >= 100_000, `Awa insertMany ${fmt(a)} jobs/s`));
    const name2 = "COPY enqueue ≥ 2× best peer batch insert";
    const peers = PEERS.map((id) => sys(r, id))
      .filter((s) => s?.scenarios.enqueue)
      .map((s) => ({ label: s!.label, v: s!.scenarios.enqueue!.batch.jobs_per_s }));
    if (a == null || peers.length === 0) out.push(na(name2, "not measured in this run"));
    else {
      const best = peers.reduce((m, p) => (p.v > m.v ? p : m));
      out.push(
        judge(
          name2,
          a >= 2 * best.v,
          `best peer ${best.label} ${fmt(best.v)} jobs/s; Awa ${fmt(a / best.v)}×`,
        ),
      );
    }
  }

  {
    const name = "final dead tuples ≤ 0.05 per job after a 100k-job soak";
    const s = awa?.scenarios.soak;
    if (!s || s.dead_per_job == null) out.push(na(name, "not measured in this run"));
    else {
      const small = s.offered < 100_000
        ? ` (this soak had ${s.offered.toLocaleString("en-US")} jobs; the target is for 100k)`
        : "";
      out.push(
        judge(
          name,
          s.dead_per_job <= 0.05,
          `${fmt(s.final_dead)} dead / ${s.offered.toLocaleString("en-US")} jobs = ${
            fmt(s.dead_per_job)
          } per job, ${s.final_dead_method}${small}`,
        ),
      );
    }
  }

  {
    const name = "deep-backlog claim rate within 20% of shallow";
    const d = awa?.scenarios.deep;
    if (!d) out.push(na(name, "not measured in this run"));
    else {
      out.push(
        judge(
          name,
          d.ratio >= 0.8,
          `${d.deep_queued.toLocaleString("en-US")} queued: ${fmt(d.deep_jobs_per_s)}/s vs ${
            fmt(d.shallow_jobs_per_s)
          }/s = ${fmt(d.ratio)}`,
        ),
      );
    }
  }

  {
    const name = "keyed drain at 1,000 keys ≥ 0.7× the unlimited drain";
    const k = awa?.scenarios.keyed;
    if (!k) out.push(na(name, "not measured in this run"));
    else {
      const other = k.keys !== 1000 ? ` (this run had ${k.keys} keys)` : "";
      out.push(
        judge(
          name,
          k.limits.every((l) => l.ratio >= 0.7),
          `unlimited ${fmt(k.unlimited_jobs_per_s)}/s; ${
            k.limits.map((l) => `limit ${l.limit} ${fmt(l.jobs_per_s)}/s = ${fmt(l.ratio, 2)}×`)
              .join(", ")
          }${other}`,
        ),
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sanity checks for the smoke test: every scenario of every system that ran produced sane,
// non-zero numbers. Speed is never asserted.

export function runChecks(r: RunResult): RunResult["checks"] {
  const checks: RunResult["checks"] = [];
  const wanted = (r.config.scenarios as string[] | undefined) ?? [];
  const pos = (v: number | null | undefined) => v != null && Number.isFinite(v) && v > 0;
  for (const s of r.systems) {
    // Skipped systems are reported as such; a system whose driver failed to start is already a
    // failure of its own, with nothing to check.
    if (s.status === "skipped" || s.errors.some((e) => e.scenario === "init")) continue;
    const add = (check: string, ok: boolean, detail: string) =>
      checks.push({ system: s.label, check, ok, detail });
    const sc = s.scenarios;
    const pg = s.id !== "bullmq";
    if (wanted.includes("enqueue")) {
      const e = sc.enqueue;
      add(
        "enqueue rates > 0",
        !!e && pos(e.single.jobs_per_s) && pos(e.batch.jobs_per_s) && pos(e.concurrent.jobs_per_s),
        e
          ? `${fmt(e.single.jobs_per_s)} / ${fmt(e.batch.jobs_per_s)} / ${
            fmt(e.concurrent.jobs_per_s)
          } jobs/s`
          : "missing",
      );
    }
    if (wanted.includes("drain")) {
      const d = sc.drain ?? [];
      add(
        "drain rates > 0 at every worker count",
        d.length === (r.config.drainWorkers as number[]).length &&
          d.every((x) => pos(x.jobs_per_s)),
        d.map((x) => `W=${x.workers}: ${fmt(x.jobs_per_s)}/s`).join(", ") || "missing",
      );
    }
    if (wanted.includes("pickup")) {
      const p = sc.pickup;
      add(
        "pickup latencies measured for every job",
        !!p && p.latency_ms.count === p.n && pos(p.latency_ms.p50) && pos(p.latency_ms.max),
        p ? `${p.latency_ms.count}/${p.n} jobs, p50 ${fmt(p.latency_ms.p50)} ms` : "missing",
      );
    }
    for (const [key, soak] of [["soak", sc.soak], ["idle_tx", sc.idle_tx]] as const) {
      if (!wanted.includes(key)) continue;
      const ok = !!soak && soak.completed >= soak.offered && pos(soak.throughput) &&
        soak.latency_ms.count >= soak.offered && pos(soak.latency_ms.p50) &&
        soak.series.length > 0 &&
        (!pg ||
          (soak.final_dead != null && soak.final_dead >= 0 && pos(soak.final_bytes) &&
            soak.series.every((p) => p.dead != null && p.dead >= 0))) &&
        (key !== "idle_tx" || !!soak.pinned_xid);
      add(
        `${key}: all offered jobs ran; throughput, latency${pg ? ", dead tuples" : ""} measured`,
        ok,
        soak
          ? `${soak.completed}/${soak.offered} jobs, ${fmt(soak.throughput)}/s, p50 ${
            fmt(soak.latency_ms.p50)
          } ms${pg ? `, final dead ${fmt(soak.final_dead)}` : ""}`
          : "missing",
      );
    }
    if (wanted.includes("load")) {
      const l = sc.load ?? [];
      const rates = r.config.loadRates as number[];
      add(
        "load: every offered job ran at every rate, latency measured",
        l.length === rates.length &&
          l.every((k) =>
            k.completed >= k.offered && k.latency_ms.count >= k.offered && pos(k.latency_ms.p99)
          ),
        l.map((k) => `${k.offered_rate}/s: p95 ${fmt(k.latency_ms.p95)} ms`).join(", ") ||
          "missing",
      );
    }
    if (wanted.includes("fleet")) {
      const f = sc.fleet ?? [];
      const counts = r.config.fleetProcesses as number[];
      add(
        "fleet: drain and soak ran at every process count, every soak job ran",
        f.length === counts.length &&
          f.every((k) =>
            pos(k.drain.jobs_per_s) && k.drain.per_process.length === k.processes &&
            k.soak.completed >= k.soak.offered && k.soak.latency_ms.count >= k.soak.offered &&
            pos(k.soak.latency_ms.p50)
          ),
        f.map((k) =>
          `${k.processes}p: drain ${fmt(k.drain.jobs_per_s)}/s, soak p95 ${
            fmt(k.soak.latency_ms.p95)
          } ms`
        ).join(", ") || "missing",
      );
    }
    if (wanted.includes("deep")) {
      const d = sc.deep;
      add(
        "deep and shallow claim rates > 0",
        !!d && pos(d.deep_jobs_per_s) && pos(d.shallow_jobs_per_s),
        d ? `${fmt(d.deep_jobs_per_s)} vs ${fmt(d.shallow_jobs_per_s)} jobs/s` : "missing",
      );
    }
    // Only Awa has fleet-wide concurrency keys in this suite; other drivers record nothing.
    if (wanted.includes("keyed") && s.id === "awa") {
      const k = sc.keyed;
      add(
        "keyed and unlimited drain rates > 0",
        !!k && pos(k.unlimited_jobs_per_s) && k.limits.every((l) => pos(l.jobs_per_s)),
        k
          ? `unlimited ${fmt(k.unlimited_jobs_per_s)}, ${
            k.limits.map((l) => `limit ${l.limit} ${fmt(l.jobs_per_s)}`).join(", ")
          } jobs/s`
          : "missing",
      );
    }
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Markdown.

/** A Markdown table; the first `textCols` columns are left-aligned, the rest (numbers) right. */
function table(head: string[], rows: string[][], textCols = 1): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map((_, i) => (i < textCols ? "---" : "---:"))), ...rows.map(line)]
    .join("\n");
}

function mib(bytes: number | null | undefined): string {
  return bytes == null ? "–" : fmt(bytes / 2 ** 20);
}

function soakTable(ran: SystemResult[], pick: (s: SystemResult) => SoakResult | undefined) {
  return table(
    [
      "System",
      "throughput jobs/s",
      "latency p50 ms",
      "p95",
      "p99",
      "max",
      "peak n_dead_tup",
      "final dead tuples",
      "dead / job",
      "tables MiB",
    ],
    ran.filter(pick).map((s) => {
      const k = pick(s)!;
      return [
        s.label,
        fmt(k.throughput),
        fmt(k.latency_ms.p50),
        fmt(k.latency_ms.p95),
        fmt(k.latency_ms.p99),
        fmt(k.latency_ms.max),
        k.peak_dead == null ? "n/a" : fmt(k.peak_dead),
        k.final_dead == null
          ? "n/a"
          : fmt(k.final_dead) + (k.final_dead_method === "pgstattuple" ? "" : " (estimate)"),
        k.dead_per_job == null ? "n/a" : fmt(k.dead_per_job),
        mib(k.final_bytes),
      ];
    }),
  );
}

export function renderMarkdown(r: RunResult, svgName: string): string {
  const c = r.config as Record<string, unknown>;
  const pg = r.postgres as Record<string, unknown>;
  const ran = r.systems.filter((s) => s.status !== "skipped" && Object.keys(s.scenarios).length);
  const out: string[] = [];
  out.push(`# Awa bench — ${r.mode} run ${r.run_id}`);
  out.push("");
  out.push(
    `PostgreSQL ${pg.server_version} (${pg.source}; fsync=${pg.fsync}, synchronous_commit=${pg.synchronous_commit}, ` +
      `shared_buffers=${pg.shared_buffers}, autovacuum_naptime=${pg.autovacuum_naptime}); ` +
      `${r.machine.cpus} CPUs, ${r.machine.memory_gib} GiB; Deno ${r.machine.deno}, peers on Node ${r.machine.peer_node}. ` +
      `${
        pg.durable
          ? "**Durable**: every commit waits for its WAL flush, as production servers run."
          : "**Not durable** (fsync or synchronous_commit off): commit cost is not measured; see `--durable`."
      } ` +
      `Dead tuples: ${pg.dead_tuple_method}. Job payload: ${c.payloadBytes} bytes of padding plus t0. ` +
      `All numbers below come from this one run.`,
  );
  out.push("");
  out.push("## Systems");
  out.push("");
  out.push(
    table(
      ["System", "status", "version", "runtime", "bench time s"],
      r.systems.map((s) => [
        s.label,
        s.status + (s.reason ? `: ${s.reason.replaceAll("|", "\\|")}` : "") +
        (s.status === "failed" && !s.reason
          ? `: ${s.errors.map((e) => e.scenario).join(", ")}`
          : ""),
        s.version ?? "–",
        s.runtime ?? "–",
        s.seconds == null ? "–" : fmt(s.seconds),
      ]),
      4,
    ),
  );

  if (ran.some((s) => s.scenarios.enqueue)) {
    out.push("");
    out.push("## Enqueue (jobs/s, higher is better)");
    out.push("");
    out.push(
      table(
        [
          "System",
          `single inserts ×${c.enqueueSingle}`,
          `batch insert ×${c.enqueueBatchJobs} (${c.batchSize}/batch)`,
          `${c.producers} concurrent producers ×${c.concurrentJobs}`,
        ],
        ran.filter((s) => s.scenarios.enqueue).map((s) => {
          const e = s.scenarios.enqueue!;
          return [
            s.label,
            fmt(e.single.jobs_per_s),
            fmt(e.batch.jobs_per_s),
            fmt(e.concurrent.jobs_per_s),
          ];
        }),
      ),
    );
  }

  if (ran.some((s) => s.scenarios.drain)) {
    const ws = c.drainWorkers as number[];
    out.push("");
    out.push(`## Drain ${c.drainJobs} queued no-op jobs (jobs/s, higher is better)`);
    out.push("");
    out.push(
      table(
        ["System", ...ws.map((w) => `${w} workers`)],
        ran.filter((s) => s.scenarios.drain).map((s) => [
          s.label,
          ...ws.map((w) => fmt(s.scenarios.drain!.find((d) => d.workers === w)?.jobs_per_s)),
        ]),
      ),
    );
  }

  if (ran.some((s) => s.scenarios.pickup)) {
    out.push("");
    out.push(
      `## Pickup latency at low rate (ms from insert to handler start; ${c.pickupJobs} jobs one at a time, ~${c.pickupGapMs} ms apart, ${c.pickupWorkers} idle workers; lower is better)`,
    );
    out.push("");
    out.push(
      table(
        ["System", "p50", "p95", "p99", "max", "mean"],
        ran.filter((s) => s.scenarios.pickup).map((s) => {
          const l = s.scenarios.pickup!.latency_ms;
          return [s.label, fmt(l.p50), fmt(l.p95), fmt(l.p99), fmt(l.max), fmt(l.mean)];
        }),
      ),
    );
  }

  if (ran.some((s) => s.scenarios.soak)) {
    out.push("");
    out.push(
      `## Sustained soak: ${c.soakRate} jobs/s offered for ${c.soakSeconds} s, ${c.workers} workers`,
    );
    out.push("");
    out.push(
      "Latency is insert → handler start. Peak n_dead_tup is sampled every second over the system's own tables; final dead tuples are measured after the workers stop.",
    );
    out.push("");
    out.push(soakTable(ran, (s) => s.scenarios.soak));
  }

  if (ran.some((s) => s.scenarios.idle_tx)) {
    out.push("");
    out.push(
      `## Idle in transaction: the same soak (${c.idleRate} jobs/s for ${c.idleSeconds} s) while one session holds an xid (\`BEGIN; SELECT txid_current();\`, then idle), so vacuum cannot remove anything`,
    );
    out.push("");
    out.push(soakTable(ran, (s) => s.scenarios.idle_tx));
  }

  if (ran.some((s) => s.scenarios.deep)) {
    out.push("");
    out.push(
      `## Deep backlog: claim rate over the first ${c.deepMeasure} jobs with ${c.deepJobs} queued vs a queue of only those ${c.deepMeasure} (${c.workers} workers)`,
    );
    out.push("");
    out.push(
      table(
        ["System", "shallow jobs/s", "deep jobs/s", "deep ÷ shallow", "fill time s"],
        ran.filter((s) => s.scenarios.deep).map((s) => {
          const d = s.scenarios.deep!;
          return [
            s.label,
            fmt(d.shallow_jobs_per_s),
            fmt(d.deep_jobs_per_s),
            fmt(d.ratio),
            fmt(d.fill_ms / 1000),
          ];
        }),
      ),
    );
  }

  if (ran.some((s) => s.scenarios.keyed)) {
    out.push("");
    const k0 = ran.find((s) => s.scenarios.keyed)!.scenarios.keyed!;
    out.push(
      `## Keyed drain: ${k0.n} jobs spread round-robin over ${k0.keys} concurrency keys, next to the same drain without keys (${k0.workers} workers, median of ${k0.rounds} interleaved round(s))`,
    );
    out.push("");
    out.push(
      table(
        ["System", "mode", "jobs/s", "÷ unlimited", "runs jobs/s"],
        ran.filter((s) => s.scenarios.keyed).flatMap((s) => {
          const k = s.scenarios.keyed!;
          return [
            [
              s.label,
              "no keys",
              fmt(k.unlimited_jobs_per_s),
              "1.00",
              k.unlimited_runs.map((v) => fmt(v)).join(" "),
            ],
            ...k.limits.map((l) => [
              s.label,
              `limit ${l.limit}`,
              fmt(l.jobs_per_s),
              fmt(l.ratio, 2),
              l.runs.map((v) => fmt(v)).join(" "),
            ]),
          ];
        }),
        2,
      ),
    );
  }

  if (ran.some((s) => s.scenarios.load)) {
    const rates = c.loadRates as number[];
    out.push("");
    out.push(
      `## Latency under load: the soak at ${
        rates.join(", ")
      } jobs/s offered, ${c.loadSeconds} s each, ${c.workers} workers (ms from insert to handler start; throughput below the offered rate means the system fell behind)`,
    );
    out.push("");
    out.push(
      table(
        ["System", ...rates.map((v) => `${v}/s: throughput · p50 / p95 / p99`)],
        ran.filter((s) => s.scenarios.load).map((s) => [
          s.label,
          ...rates.map((v) => {
            const k = s.scenarios.load!.find((x) => x.offered_rate === v);
            return k
              ? `${fmt(k.throughput)} · ${fmt(k.latency_ms.p50)} / ${fmt(k.latency_ms.p95)} / ${
                fmt(k.latency_ms.p99)
              }`
              : "–";
          }),
        ]),
      ),
    );
  }

  if (ran.some((s) => s.scenarios.fleet)) {
    const counts = c.fleetProcesses as number[];
    out.push("");
    out.push(
      `## The fleet: ${
        counts.join(", ")
      } worker processes (${c.workers} workers each) and one producer process against one server`,
    );
    out.push("");
    out.push(
      `Drain: ${c.fleetDrainJobs} queued jobs, total jobs/s. Soak: ${c.fleetSoakRate} jobs/s offered for ${c.fleetSoakSeconds} s, total throughput and latency p50 / p95 / p99 in ms over every process.`,
    );
    out.push("");
    const at = (s: SystemResult, n: number) => s.scenarios.fleet!.find((x) => x.processes === n);
    out.push(
      table(
        [
          "System",
          ...counts.map((n) => `drain, ${n} proc.`),
          ...counts.map((n) => `soak, ${n} proc.`),
        ],
        ran.filter((s) => s.scenarios.fleet).map((s) => [
          s.label,
          ...counts.map((n) => fmt(at(s, n)?.drain.jobs_per_s)),
          ...counts.map((n) => {
            const k = at(s, n)?.soak;
            return k
              ? `${fmt(k.throughput)} · ${fmt(k.latency_ms.p50)} / ${fmt(k.latency_ms.p95)} / ${
                fmt(k.latency_ms.p99)
              }`
              : "–";
          }),
        ]),
      ),
    );
  }

  const awa = sys(r, "awa");
  if (awa && Object.keys(awa.scenarios).length) {
    const others: SystemId[] = ["raw", ...PEERS];
    const cols = others.map((id) => sys(r, id)).filter((s) => s && Object.keys(s.scenarios).length)
      .map((s) => s!);
    const metrics: [string, (s: SystemResult) => number | null | undefined][] = [
      ["single enqueue jobs/s ↑", (s) => s.scenarios.enqueue?.single.jobs_per_s],
      ["batch enqueue jobs/s ↑", (s) => s.scenarios.enqueue?.batch.jobs_per_s],
      ["concurrent enqueue jobs/s ↑", (s) => s.scenarios.enqueue?.concurrent.jobs_per_s],
      ["drain jobs/s, best worker count ↑", (s) => bestDrain(s)],
      ["pickup p95 ms ↓", (s) => s.scenarios.pickup?.latency_ms.p95],
      ["soak throughput ↑", (s) => s.scenarios.soak?.throughput],
      ["soak latency p95 ↓", (s) => s.scenarios.soak?.latency_ms.p95],
      ["soak final dead tuples ↓", (s) => s.scenarios.soak?.final_dead],
      ["idle-in-tx peak n_dead_tup ↓", (s) => s.scenarios.idle_tx?.peak_dead],
      ["idle-in-tx latency p95 ↓", (s) => s.scenarios.idle_tx?.latency_ms.p95],
      ["deep ÷ shallow ↑", (s) => s.scenarios.deep?.ratio],
      ["load p95 at the highest offered rate ↓", (s) => s.scenarios.load?.at(-1)?.latency_ms.p95],
      ["fleet drain, most processes ↑", (s) => s.scenarios.fleet?.at(-1)?.drain.jobs_per_s],
      ["fleet soak p95, most processes ↓", (s) => s.scenarios.fleet?.at(-1)?.soak.latency_ms.p95],
    ];
    if (cols.length) {
      out.push("");
      out.push("## Awa ÷ each system (same run; ↑ higher is better, ↓ lower is better)");
      out.push("");
      out.push(
        table(
          ["metric", ...cols.map((s) => `Awa ÷ ${s.label}`)],
          metrics.map(([name, f]) => [name, ...cols.map((s) => ratio(f(awa), f(s)))]),
        ),
      );
    }
  }

  out.push("");
  out.push("## Targets (reported, never asserted)");
  out.push("");
  out.push(
    table(
      ["target", "status", "measured"],
      r.targets.map((t) => [t.name, t.status === "met" ? "**met**" : t.status, t.detail]),
      3,
    ),
  );

  const failed = r.checks.filter((x) => !x.ok);
  out.push("");
  out.push(
    `## Sanity checks: ${r.checks.length - failed.length} passed, ${failed.length} failed`,
  );
  for (const f of failed) out.push(`- FAILED ${f.system}: ${f.check} (${f.detail})`);
  for (const s of r.systems) {
    if (s.status === "skipped") out.push(`- skipped ${s.label}: ${s.reason}`);
    for (const e of s.errors) {
      out.push(`- error ${s.label} / ${e.scenario}: ${e.error.split("\n")[0]}`);
    }
  }

  out.push("");
  out.push("## Settings per system");
  out.push("");
  for (const s of r.systems.filter((x) => x.settings)) {
    out.push(`- **${s.label}** (${s.version}): \`${JSON.stringify(s.settings)}\``);
    const d = s.scenarios.drain;
    if (d?.length) {
      out.push(
        `  - workers at each drain size: ${
          d.map((x) => `W=${x.workers} → \`${JSON.stringify(x.settings)}\``).join("; ")
        }`,
      );
    }
  }
  out.push("");
  out.push(`![throughput and dead tuples over time](${svgName})`);
  out.push("");
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------
// SVG: four panels (soak throughput, soak n_dead_tup, idle-in-tx throughput, idle-in-tx
// n_dead_tup), one line per system.

const COLORS: Record<SystemId, string> = {
  awa: "#d62728",
  raw: "#7f7f7f",
  pgboss: "#1f77b4",
  graphile: "#2ca02c",
  bullmq: "#9467bd",
  bullmq_pg: "#8c564b",
};

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function panel(
  x: number,
  y: number,
  w: number,
  h: number,
  title: string,
  lines: { id: SystemId; pts: [number, number][]; dash?: string }[],
  opts: { xLabel?: string; logY?: boolean; dots?: boolean } = {},
): string {
  const parts: string[] = [];
  const padL = 64, padB = 34, padT = 26, padR = 12;
  const iw = w - padL - padR, ih = h - padT - padB;
  const xmax = niceMax(Math.max(1, ...lines.flatMap((l) => l.pts.map((p) => p[0]))));
  const ymaxRaw = Math.max(1, ...lines.flatMap((l) => l.pts.map((p) => p[1])));
  // Log scale (latency): decades from 0.1 ms, so a knee of 10× shows as a step.
  const ymin = 0.1;
  const ymax = opts.logY ? 10 ** Math.ceil(Math.log10(ymaxRaw)) : niceMax(ymaxRaw);
  const frac = (v: number) =>
    opts.logY
      ? (Math.log10(Math.max(v, ymin)) - Math.log10(ymin)) / (Math.log10(ymax) - Math.log10(ymin))
      : v / ymax;
  const sx = (v: number) => x + padL + (v / xmax) * iw;
  const sy = (v: number) => y + padT + ih - frac(v) * ih;
  parts.push(
    `<text x="${x + padL}" y="${y + 16}" font-size="13" font-weight="bold">${esc(title)}</text>`,
  );
  parts.push(
    `<rect x="${x + padL}" y="${
      y + padT
    }" width="${iw}" height="${ih}" fill="none" stroke="#999"/>`,
  );
  for (let i = 0; i <= 4; i++) {
    const yv = opts.logY ? ymin * (ymax / ymin) ** (i / 4) : (ymax * i) / 4;
    const yy = sy(yv);
    parts.push(
      `<line x1="${x + padL}" x2="${x + padL + iw}" y1="${yy}" y2="${yy}" stroke="#eee"/>`,
      `<text x="${x + padL - 6}" y="${yy + 4}" font-size="11" text-anchor="end">${fmt(yv)}</text>`,
    );
    const xv = (xmax * i) / 4;
    parts.push(
      `<text x="${sx(xv)}" y="${y + padT + ih + 15}" font-size="11" text-anchor="middle">${
        fmt(xv)
      }</text>`,
    );
  }
  parts.push(
    `<text x="${x + padL + iw / 2}" y="${y + h - 4}" font-size="11" text-anchor="middle">${
      esc(opts.xLabel ?? "seconds")
    }</text>`,
  );
  if (lines.every((l) => l.pts.length === 0)) {
    parts.push(
      `<text x="${x + padL + iw / 2}" y="${
        y + padT + ih / 2
      }" font-size="12" text-anchor="middle" fill="#999">no data</text>`,
    );
  }
  for (const l of lines) {
    if (l.pts.length === 0) continue;
    const d = l.pts.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
      .join(" ");
    parts.push(
      `<path d="${d}" fill="none" stroke="${COLORS[l.id]}" stroke-width="2"${
        l.dash ? ` stroke-dasharray="${l.dash}"` : ""
      }><title>${esc(l.id)}</title></path>`,
    );
    if (opts.dots) {
      for (const p of l.pts) {
        parts.push(
          `<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="3" fill="${
            COLORS[l.id]
          }"/>`,
        );
      }
    }
  }
  return parts.join("\n");
}

export function renderSvg(r: RunResult): string {
  const W = 1100, H = 1130;
  const ran = r.systems.filter((s) => s.status !== "skipped");
  const series = (
    pick: (s: SystemResult) => SoakResult | undefined,
    f: (p: SeriesPoint) => number | null,
  ) =>
    ran.map((s) => ({
      id: s.id,
      pts: (pick(s)?.series ?? []).filter((p) => f(p) != null).map((p) =>
        [p.t, f(p)!] as [number, number]
      ),
    }));
  const soak = (s: SystemResult) => s.scenarios.soak;
  const idle = (s: SystemResult) => s.scenarios.idle_tx;
  const c = r.config as Record<string, unknown>;
  const perRow = 3;
  const legendRows = Math.max(1, Math.ceil(ran.length / perRow));
  const top = 46 + legendRows * 18;
  const pw = W / 2, ph = (H - top - 30) / 3;
  // Latency against offered rate: p50 dashed, p95 solid, p99 dotted, one colour per system.
  const loadLines = ran.flatMap((s) =>
    ([["p50", "6 4"], ["p95", undefined], ["p99", "2 3"]] as const).map(([q, dash]) => ({
      id: s.id,
      dash,
      pts: (s.scenarios.load ?? []).filter((k) => k.latency_ms[q] != null).map((k) =>
        [k.offered_rate, k.latency_ms[q]!] as [number, number]
      ),
    }))
  );
  const fleetLines = ran.map((s) => ({
    id: s.id,
    pts: (s.scenarios.fleet ?? []).map((k) =>
      [k.processes, k.drain.jobs_per_s] as [number, number]
    ),
  }));
  const body = [
    panel(
      0,
      top,
      pw,
      ph,
      `Soak (${c.soakRate}/s offered): jobs completed per second`,
      series(soak, (p) => p.jobs_per_s),
    ),
    panel(
      pw,
      top,
      pw,
      ph,
      "Soak: n_dead_tup over the system's tables",
      series(soak, (p) => p.dead),
    ),
    panel(
      0,
      top + ph,
      pw,
      ph,
      `Idle-in-transaction soak (${c.idleRate}/s): jobs per second`,
      series(idle, (p) => p.jobs_per_s),
    ),
    panel(
      pw,
      top + ph,
      pw,
      ph,
      "Idle-in-transaction: n_dead_tup (horizon pinned)",
      series(idle, (p) => p.dead),
    ),
    panel(
      0,
      top + 2 * ph,
      pw,
      ph,
      "Latency (ms, log) vs offered rate: p50 dashed, p95 solid, p99 dotted",
      loadLines,
      { xLabel: "offered jobs/s", logY: true, dots: true },
    ),
    panel(
      pw,
      top + 2 * ph,
      pw,
      ph,
      `Fleet: drain jobs/s vs worker processes (${c.workers} workers each)`,
      fleetLines,
      { xLabel: "worker processes", dots: true },
    ),
  ];
  const legend = ran.map((s, i) => {
    const lx = 20 + (i % perRow) * 360;
    const ly = 36 + Math.floor(i / perRow) * 18;
    const peak = s.scenarios.soak?.peak_dead;
    return `<rect x="${lx}" y="${ly}" width="14" height="4" fill="${COLORS[s.id]}"/>` +
      `<text x="${lx + 20}" y="${ly + 6}" font-size="12">${esc(s.label)}${
        peak != null ? ` (soak peak n_dead_tup ${fmt(peak)})` : ""
      }</text>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="22" font-size="15" font-weight="bold">${
    esc(
      `Awa bench ${r.mode} run ${r.run_id} — PostgreSQL ${
        (r.postgres as Record<string, unknown>).server_version
      }`,
    )
  }</text>
${legend.join("\n")}
${body.join("\n")}
</svg>
`;
}
