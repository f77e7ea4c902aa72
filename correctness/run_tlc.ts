/**
 * `deno task tlc`: model-checks every spec x config in correctness/specs/ and checks that
 * each ends as expected: good configs pass; Broken configs fail on the NAMED invariant or
 * with a deadlock (failing for any other reason fails the run); example traces are accepted
 * (TraceIncomplete violated) or rejected (deadlock).
 *
 * Engine: real TLC when TLA2TOOLS_JAR is set (java -cp $TLA2TOOLS_JAR tlc2.TLC), otherwise
 * tla-checker (npm, a WASM build of tla-rs). The engine is printed on every row.
 *
 * Usage:
 *   deno task tlc                        run the suite
 *   deno task tlc --only Lock            only cases whose config name contains "Lock"
 *   deno task tlc --trace X.tla X.cfg [--expect accept|reject]
 *                                        replay one exported trace (see trace_export.ts)
 *   deno task tlc --write-traces         regenerate correctness/specs/traces/ from
 *                                        trace_examples.ts
 *   --jobs N                             parallel tla-checker processes (default: cores)
 *   --engine tlc|tla-checker             force an engine
 *
 * Exits non-zero if any outcome differs from its expectation, or if nothing ran.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import {
  applySubstitutions,
  cfgChecksDeadlock,
  cfgInvariants,
  flattenModule,
  withInvariants,
} from "./tla_source.ts";
import { exportTlaTrace } from "./trace_export.ts";
import { EXAMPLE_TRACES } from "./trace_examples.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const SPECS = join(HERE, "specs");
const TRACES = join(SPECS, "traces");

type Expect =
  | { kind: "pass" }
  | { kind: "violation"; invariant: string }
  | { kind: "deadlock" };

interface Case {
  spec: string; // path to .tla
  cfg: string; // path to .cfg
  expect: Expect;
  note?: string;
  /** Check only this reachability probe (expected to be violated) instead of the cfg's. */
  probe?: string;
}

type Engine = "tlc" | "tla-checker";

interface Outcome {
  actual: Expect | { kind: "error"; message: string };
  states: number | null;
  seconds: number;
  detail?: string;
}

const spec = (name: string) => join(SPECS, `${name}.tla`);
const cfg = (name: string) => join(SPECS, `${name}.cfg`);
const PASS: Expect = { kind: "pass" };
const violation = (invariant: string): Expect => ({ kind: "violation", invariant });
const DEADLOCK: Expect = { kind: "deadlock" };
const ACCEPT = violation("TraceIncomplete");

/** Configs that take tens of seconds under tla-checker; scheduled first. */
const HEAVY = [
  "AwaSegmentedStorage_Races",
  "AwaSegmentedStorage",
  "AwaPartitionedQueueRouting",
  "AwaStorageLockOrder_ThreeTx",
];

/** The suite. Expected outcomes are stated here, never derived from a run. */
function suite(): Case[] {
  const seg = spec("AwaSegmentedStorage");
  const lock = spec("AwaStorageLockOrder");
  const route = spec("AwaPartitionedQueueRouting");
  const cron = spec("AwaCron");
  const flow = spec("AwaFlowRelease");
  const cases: Case[] = [
    { spec: seg, cfg: cfg("AwaSegmentedStorage"), expect: PASS },
    { spec: seg, cfg: cfg("AwaSegmentedStorage_Races"), expect: PASS },
    {
      spec: seg,
      cfg: cfg("AwaSegmentedStorage_BrokenStaleSlot"),
      expect: violation("NoLostJob"),
    },
    {
      spec: seg,
      cfg: cfg("AwaSegmentedStorage_BrokenLeaseGuard"),
      expect: violation("StaleNeverApplied"),
    },
    // anti-vacuity: the good configs reach the situations the invariants are about
    ...[
      ["AwaSegmentedStorage", "ProbeLeaseReused"],
      ["AwaSegmentedStorage", "ProbeSlotReused"],
      ["AwaSegmentedStorage_Races", "ProbeLateWrite"],
      ["AwaSegmentedStorage_Races", "ProbeStaleRanking"],
    ].map(([c, probe]): Case => ({ spec: seg, cfg: cfg(c), expect: violation(probe), probe })),
    { spec: spec("AwaShardedPrune"), cfg: cfg("AwaShardedPrune"), expect: PASS },
    {
      spec: spec("AwaShardedPrune"),
      cfg: cfg("AwaShardedPrune_Broken"),
      expect: violation("NoPendingReadyDropped"),
    },
    { spec: spec("AwaCallbacks"), cfg: cfg("AwaCallbacks"), expect: PASS },
    {
      spec: spec("AwaCallbacks"),
      cfg: cfg("AwaCallbacks_BrokenNoLeaseGuard"),
      expect: violation("StaleTokenNeverApplies"),
    },
    {
      spec: spec("AwaCallbacks"),
      cfg: cfg("AwaCallbacks_BrokenDoubleResolve"),
      expect: violation("AtMostOneResolution"),
    },
    {
      spec: spec("AwaCallbacks"),
      cfg: cfg("AwaCallbacks_BrokenNoRescueRecheck"),
      expect: violation("ParkedEndsByCallback"),
    },
    { spec: spec("AwaKeyedClaims"), cfg: cfg("AwaKeyedClaims"), expect: PASS },
    { spec: spec("AwaKeyedClaims"), cfg: cfg("AwaKeyedClaims_Limit2"), expect: PASS },
    {
      spec: spec("AwaKeyedClaims"),
      cfg: cfg("AwaKeyedClaims_BrokenCheckThenAdmit"),
      expect: violation("RunningPerKey"),
    },
    {
      spec: spec("AwaKeyedClaims"),
      cfg: cfg("AwaKeyedClaims_BrokenRetryFreesSlot"),
      expect: violation("PerKeyOrder"),
    },
    {
      spec: spec("AwaKeyedClaims"),
      cfg: cfg("AwaKeyedClaims"),
      expect: violation("ProbeAllDone"),
      probe: "ProbeAllDone",
    },
    { spec: spec("AwaCacheStampede"), cfg: cfg("AwaCacheStampede"), expect: PASS },
    {
      spec: spec("AwaCacheStampede"),
      cfg: cfg("AwaCacheStampede_BrokenNoRecheck"),
      expect: violation("NoStampede"),
    },
    {
      spec: spec("AwaCacheStampede"),
      cfg: cfg("AwaCacheStampede"),
      expect: violation("ProbeTakeover"),
      probe: "ProbeTakeover",
    },
    { spec: spec("AwaHistoryPrune"), cfg: cfg("AwaHistoryPrune"), expect: PASS },
    {
      spec: spec("AwaHistoryPrune"),
      cfg: cfg("AwaHistoryPrune_BrokenNoCopy"),
      expect: violation("VisibleExactlyOnce"),
    },
    {
      spec: spec("AwaHistoryPrune"),
      cfg: cfg("AwaHistoryPrune_BrokenSplit"),
      expect: violation("VisibleExactlyOnce"),
    },
    {
      spec: spec("AwaHistoryPrune"),
      cfg: cfg("AwaHistoryPrune"),
      expect: violation("ProbeInHistory"),
      probe: "ProbeInHistory",
    },
    { spec: lock, cfg: cfg("AwaStorageLockOrder"), expect: PASS },
    { spec: lock, cfg: cfg("AwaStorageLockOrder_ThreeTx"), expect: PASS },
    {
      spec: lock,
      cfg: cfg("AwaStorageLockOrder_UnsortedAttemptLocks"),
      expect: violation("NoDeadlock"),
    },
    { spec: lock, cfg: cfg("AwaStorageLockOrder_DeadlockDemo"), expect: DEADLOCK },
    {
      spec: lock,
      cfg: cfg("AwaStorageLockOrder_UnsortedAdminBatches"),
      expect: violation("NoDeadlock"),
    },
    { spec: lock, cfg: cfg("AwaStorageLockOrder_DrainLateLock"), expect: violation("NoDeadlock") },
    { spec: route, cfg: cfg("AwaPartitionedQueueRouting"), expect: PASS },
    {
      spec: route,
      cfg: cfg("AwaPartitionedQueueRouting_BrokenCorrelated"),
      expect: violation("CorrelatedPartitionShardCoverage"),
    },
    { spec: flow, cfg: cfg("AwaFlowRelease"), expect: PASS },
    {
      spec: flow,
      cfg: cfg("AwaFlowRelease_BrokenReadThenWrite"),
      expect: violation("ReleasedExactlyOnce"),
    },
    {
      spec: flow,
      cfg: cfg("AwaFlowRelease"),
      expect: violation("ProbeConcurrent"),
      probe: "ProbeConcurrent",
    },
    { spec: cron, cfg: cfg("AwaCron"), expect: PASS },
    { spec: cron, cfg: cfg("AwaCron_CatchUp"), expect: PASS },
    { spec: cron, cfg: cfg("AwaCron_BrokenReadThenInsert"), expect: violation("NoDoubleFire") },
    { spec: cron, cfg: cfg("AwaCron_BrokenSplit"), expect: violation("NoLostFire") },
    { spec: cron, cfg: cfg("AwaCron"), expect: violation("ProbeOverlap"), probe: "ProbeOverlap" },
  ];
  for (const t of EXAMPLE_TRACES) {
    cases.push({
      spec: join(TRACES, `${t.name}.tla`),
      cfg: join(TRACES, `${t.name}.cfg`),
      expect: t.expect === "accept" ? ACCEPT : DEADLOCK,
      note: t.description,
    });
  }
  return cases;
}

function show(e: Outcome["actual"]): string {
  switch (e.kind) {
    case "pass":
      return "pass";
    case "deadlock":
      return "deadlock";
    case "violation":
      return `violated ${e.invariant}`;
    case "error":
      return `ERROR ${e.message}`;
  }
}

function sameOutcome(expected: Expect, actual: Outcome["actual"]): boolean {
  if (expected.kind !== actual.kind) return false;
  if (expected.kind === "violation" && actual.kind === "violation") {
    return expected.invariant === actual.invariant;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Engines

function cfgText(c: Case): string {
  const text = readFileSync(c.cfg, "utf8");
  return c.probe ? withInvariants(text, [c.probe]) : text;
}

function label(c: Case): string {
  return basename(c.cfg, ".cfg") + (c.probe ? ` [${c.probe}]` : "");
}

async function runTlc(jar: string, c: Case): Promise<Outcome> {
  const meta = mkdtempSync(join(tmpdir(), "awa-tlc-"));
  const started = performance.now();
  let cfgPath = c.cfg;
  if (c.probe) {
    cfgPath = join(meta, `${basename(c.cfg, ".cfg")}_${c.probe}.cfg`);
    writeFileSync(cfgPath, cfgText(c));
  }
  try {
    const out = await new Deno.Command("java", {
      args: [
        "-XX:+UseParallelGC",
        `-DTLA-Library=${SPECS}`,
        "-cp",
        jar,
        "tlc2.TLC",
        "-workers",
        "auto",
        "-metadir",
        meta,
        "-config",
        cfgPath,
        c.spec,
      ],
      cwd: dirname(c.spec),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const seconds = (performance.now() - started) / 1000;
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const distinct = /([\d,]+) distinct states found/.exec(text);
    const states = distinct ? Number(distinct[1].replaceAll(",", "")) : null;
    const inv = /Invariant (\w+) is violated/.exec(text);
    if (inv) return { actual: violation(inv[1]), states, seconds };
    if (/Deadlock reached/.test(text)) return { actual: DEADLOCK, states, seconds };
    if (/Model checking completed\. No error has been found/.test(text)) {
      return { actual: PASS, states, seconds };
    }
    const tail = text.trim().split("\n").slice(-5).join(" | ");
    return { actual: { kind: "error", message: `TLC exit ${out.code}: ${tail}` }, states, seconds };
  } finally {
    rmSync(meta, { recursive: true, force: true });
  }
}

async function runTlaChecker(c: Case): Promise<Outcome> {
  const started = performance.now();
  let source: string;
  let cfgSource: string;
  try {
    const flat = flattenModule(c.spec, [SPECS]);
    ({ source, cfg: cfgSource } = applySubstitutions(flat, cfgText(c)));
  } catch (e) {
    return {
      actual: { kind: "error", message: String(e) },
      states: null,
      seconds: (performance.now() - started) / 1000,
    };
  }
  const names = cfgInvariants(cfgSource);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-read", join(HERE, "tla_checker_child.ts")],
    cwd: dirname(HERE),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(JSON.stringify({
      source,
      cfg: cfgSource,
      maxStates: 5_000_000,
      maxDepth: 1_000_000,
      allowDeadlock: !cfgChecksDeadlock(cfgSource),
    })),
  );
  await writer.close();
  const out = await child.output();
  const seconds = (performance.now() - started) / 1000;
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    return {
      actual: { kind: "error", message: `tla-checker crashed: ${err}` },
      states: null,
      seconds,
    };
  }
  const r = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    success: boolean;
    errorType: string | null;
    errorMessage: string | null;
    states: number;
    lastState: string | null;
  };
  const detail = r.lastState ?? undefined;
  if (r.success) {
    if (r.states >= 5_000_000) {
      return {
        actual: { kind: "error", message: "state limit reached" },
        states: r.states,
        seconds,
      };
    }
    return { actual: PASS, states: r.states, seconds };
  }
  if (r.errorType === "Deadlock") return { actual: DEADLOCK, states: r.states, seconds, detail };
  if (r.errorType === "InvariantViolation") {
    const m = /Invariant (\d+) violated/.exec(r.errorMessage ?? "");
    const named = /Invariant ([A-Za-z_]\w*) violated/.exec(r.errorMessage ?? "");
    const name = m ? names[Number(m[1])] : named?.[1];
    if (name) return { actual: violation(name), states: r.states, seconds, detail };
  }
  return {
    actual: { kind: "error", message: `${r.errorType}: ${r.errorMessage}` },
    states: r.states,
    seconds,
  };
}

// ---------------------------------------------------------------------------------------
// Example traces: exported from trace_examples.ts, committed under specs/traces/.

function exportedExamples(): Map<string, { tla: string; cfg: string }> {
  const m = new Map<string, { tla: string; cfg: string }>();
  for (const t of EXAMPLE_TRACES) m.set(t.name, exportTlaTrace(t.events, t.name, t.options));
  return m;
}

function writeExamples(): void {
  for (const [name, f] of exportedExamples()) {
    writeFileSync(join(TRACES, `${name}.tla`), f.tla);
    writeFileSync(join(TRACES, `${name}.cfg`), f.cfg);
    console.log(`wrote ${join("correctness/specs/traces", name)}.{tla,cfg}`);
  }
}

/** Names of committed example traces that differ from what the exporter produces now. */
function staleExamples(): string[] {
  const bad: string[] = [];
  for (const [name, f] of exportedExamples()) {
    const t = join(TRACES, `${name}.tla`);
    const c = join(TRACES, `${name}.cfg`);
    if (
      !existsSync(t) || !existsSync(c) || readFileSync(t, "utf8") !== f.tla ||
      readFileSync(c, "utf8") !== f.cfg
    ) bad.push(name);
  }
  return bad;
}

// ---------------------------------------------------------------------------------------

async function pool<T, R>(items: T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(n, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await f(items[i]);
    }
  });
  await Promise.all(lanes);
  return results;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

async function main(): Promise<number> {
  const args = [...Deno.args];
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  if (args.includes("--write-traces")) {
    writeExamples();
    return 0;
  }
  const only = flag("--only");
  const jobs = Number(flag("--jobs") ?? navigator.hardwareConcurrency ?? 2);
  const forced = flag("--engine") as Engine | undefined;
  const jar = Deno.env.get("TLA2TOOLS_JAR");
  const engine: Engine = forced ?? (jar ? "tlc" : "tla-checker");
  if (engine === "tlc" && (!jar || !existsSync(jar))) {
    console.error(`TLC requested but TLA2TOOLS_JAR is not set to an existing file (${jar})`);
    return 2;
  }

  let cases: Case[];
  const traceIdx = args.indexOf("--trace");
  if (traceIdx >= 0) {
    const expectArg = flag("--expect") ?? "accept";
    const tla = resolve(args[traceIdx + 1] ?? "");
    const cfgPath = resolve(args[traceIdx + 2] ?? "");
    if (!existsSync(tla) || !existsSync(cfgPath)) {
      console.error("usage: deno task tlc --trace X.tla X.cfg [--expect accept|reject]");
      return 2;
    }
    cases = [{
      spec: tla,
      cfg: cfgPath,
      expect: expectArg === "reject" ? DEADLOCK : ACCEPT,
    }];
  } else {
    cases = suite().filter((c) => !only || label(c).includes(only));
    const stale = staleExamples();
    if (stale.length) {
      console.error(
        `example traces out of date (${stale.join(", ")}): ` +
          "run `deno run -A correctness/run_tlc.ts --write-traces`",
      );
      return 1;
    }
  }
  if (cases.length === 0) {
    console.error("no spec/config matched: nothing was checked");
    return 1;
  }

  const engineLabel = engine === "tlc"
    ? `TLC (${basename(jar!)})`
    : "tla-checker 0.9.0 (WASM tla-rs; TLA2TOOLS_JAR not set)";
  console.log(`engine: ${engineLabel}`);
  console.log(`checking ${cases.length} spec x config runs…\n`);

  const started = performance.now();
  // TLC parallelises itself; tla-checker is single-threaded, so run configs side by side.
  // Start the slowest configs first so parallel lanes finish together; report in suite order.
  const heavy = (c: Case) => (!c.probe && HEAVY.includes(basename(c.cfg, ".cfg")) ? 0 : 1);
  const order = cases.map((_, i) => i).sort((a, b) => heavy(cases[a]) - heavy(cases[b]));
  const scheduled = await pool(order, engine === "tlc" ? 1 : jobs, async (i) => {
    const c = cases[i];
    const o = engine === "tlc" ? await runTlc(jar!, c) : await runTlaChecker(c);
    const ok = sameOutcome(c.expect, o.actual);
    console.log(
      `  ${ok ? "ok  " : "FAIL"} ${label(c)}: ${show(o.actual)} ` +
        `(${o.states ?? "?"} states, ${o.seconds.toFixed(1)} s)`,
    );
    return { i, c, o, ok };
  });
  const outcomes = scheduled.sort((a, b) => a.i - b.i);

  const header = [
    "engine",
    "spec",
    "config",
    "expected",
    "actual",
    "distinct states",
    "seconds",
    "result",
  ];
  const rows = outcomes.map(({ c, o, ok }) => [
    engine,
    basename(c.spec, ".tla"),
    label(c),
    show(c.expect),
    show(o.actual),
    o.states === null ? "?" : String(o.states),
    o.seconds.toFixed(1),
    ok ? "ok" : "FAIL",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  console.log("");
  console.log(`| ${header.map((h, i) => pad(h, widths[i])).join(" | ")} |`);
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows) console.log(`| ${r.map((x, i) => pad(x, widths[i])).join(" | ")} |`);

  for (const { c, o, ok } of outcomes) {
    if (!ok && o.detail) {
      console.log(`\n${label(c)}: last state of the counterexample:\n${o.detail}`);
    }
  }
  const failed = outcomes.filter((x) => !x.ok).length;
  const passed = outcomes.length - failed;
  console.log(
    `\nengine ${engine}, ${((performance.now() - started) / 1000).toFixed(1)} s wall, ` +
      `every outcome compared with its expectation`,
  );
  console.log(`tlc: ${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

Deno.exit(await main());
