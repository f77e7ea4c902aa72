/**
 * Trace acceptance (issue #4 part 3): generated runs against the real engine (single lane,
 * commit order, only operations the spec has events for) are exported with `exportTlaTrace`
 * and replayed through AwaSegmentedStorageTrace by the same runner as
 * `deno task tlc --trace X.tla X.cfg` (correctness/run_tlc.ts, as a subprocess). The spec must
 * accept every one; a deliberately corrupted trace must be rejected (the check is not vacuous).
 * The committed traces under correctness/property/traces/ are replayed too.
 *
 * WRITE_TRACES=1 rewrites correctness/property/traces/ from the first three runs.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { join } from "node:path";
import { testDatabase } from "../support/db.ts";
import {
  DEFAULT_CONFIG,
  type Driver,
  prepareSchema,
  type PropertyConfig,
} from "../../correctness/property/engine.ts";
import { fcSettings, modelProperty } from "../../correctness/property/run.ts";
import { exportTlaTrace, type TraceEvent } from "../../correctness/trace_export.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const TRACES = join(ROOT, "correctness/property/traces");

interface Replay {
  ok: boolean;
  output: string;
}

/** `deno run -A correctness/run_tlc.ts --trace X.tla X.cfg --expect accept|reject`. */
async function replay(tla: string, cfg: string, expect: "accept" | "reject"): Promise<Replay> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(ROOT, "correctness/run_tlc.ts"),
      "--trace",
      tla,
      cfg,
      "--expect",
      expect,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { ok: out.success && /tlc: 1 passed, 0 failed/.test(output), output };
}

function options(cfg: PropertyConfig) {
  return { qSlots: cfg.qSlots, cSlots: cfg.cSlots, maxAttempts: cfg.maxAttempts };
}

async function writeTrace(
  dir: string,
  name: string,
  events: TraceEvent[],
  cfg: PropertyConfig,
): Promise<{ tla: string; cfg: string }> {
  const f = exportTlaTrace(events, name, options(cfg));
  const paths = { tla: join(dir, `${name}.tla`), cfg: join(dir, `${name}.cfg`) };
  await Deno.writeTextFile(paths.tla, f.tla);
  await Deno.writeTextFile(paths.cfg, f.cfg);
  return paths;
}

Deno.test({
  name: "property: recorded engine traces are accepted by AwaSegmentedStorageTrace",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const db = await testDatabase("property_trace");
    const tmp = await Deno.makeTempDir({ prefix: "awa-prop-traces-" });
    const writeCommitted = Deno.env.get("WRITE_TRACES") === "1";
    try {
      // No carry-forward: the lifecycle spec's PruneQ has no carry (AwaCarryForward checks it).
      const cfg: PropertyConfig = { ...DEFAULT_CONFIG, schema: "prop_trace", carryLimit: 0 };
      const sql = db.connect({ max: 1 });
      await prepareSchema(sql, cfg);
      const { seed, numRuns } = fcSettings("property_trace", 7, 8);
      const runs: { name: string; events: TraceEvent[]; log: string }[] = [];
      await fc.assert(
        modelProperty(sql, cfg, "trace", 80, (d: Driver) => {
          assert.deepEqual(d.rec.notExportable, [], "trace profile left the spec's vocabulary");
          runs.push({
            name: `PropTrace_${runs.length + 1}`,
            events: [...d.rec.events],
            log: d.rec.format(),
          });
        }),
        // No shrinking: a failed replay below names the run; engine failures shrink in the
        // model property test.
        { seed, numRuns, endOnFailure: true },
      );
      const nonEmpty = runs.filter((r) => r.events.length > 0);
      assert.ok(nonEmpty.length >= 3, `only ${nonEmpty.length} runs recorded events`);

      let accepted = 0;
      for (const r of nonEmpty) {
        const p = await writeTrace(tmp, r.name, r.events, cfg);
        const res = await replay(p.tla, p.cfg, "accept");
        assert.ok(
          res.ok,
          `spec REJECTED recorded trace ${r.name} (seed ${seed}):\n${res.output}\n${r.log}\n` +
            `files: ${p.tla} ${p.cfg}`,
        );
        accepted++;
      }
      const applied = (o: string) =>
        nonEmpty.flatMap((r) => r.events).filter((e) =>
          e.kind === "finalize" && e.outcome === o && !e.stale
        ).length;
      const cancelsRunning = nonEmpty.flatMap((r) => r.events)
        .filter((e) => e.kind === "cancelRunning").length;
      const byOutcome = ["completed", "retry", "snooze", "cancelled", "dlq"]
        .map((o) => `${o} ${applied(o)}`).join(", ") +
        `; admin cancels of running ${cancelsRunning}`;

      console.log(
        `property_trace: ${accepted} recorded traces accepted ` +
          `(${nonEmpty.map((r) => r.events.length).join(", ")} events; applied ${byOutcome})`,
      );
      if (!Deno.env.get("FC_SEED")) {
        // Coverage of the default seed: the accepted traces apply every worker outcome.
        for (const o of ["completed", "retry", "snooze", "cancelled", "dlq"]) {
          assert.ok(applied(o) > 0, `no applied ${o} in the accepted traces: ${byOutcome}`);
        }
        assert.ok(cancelsRunning > 0, `no admin cancel of a running job: ${byOutcome}`);
      }

      // Not vacuous: the longest trace with a finalize flipped to the opposite stale verdict
      // must be rejected.
      const longest = [...nonEmpty].sort((a, b) => b.events.length - a.events.length)[0];
      const i = longest.events.findIndex((e) => e.kind === "finalize");
      if (i >= 0) {
        const bad = longest.events.map((e, k) =>
          k === i && e.kind === "finalize" ? { ...e, stale: !e.stale } : e
        );
        const p = await writeTrace(tmp, "PropTrace_Corrupted", bad, cfg);
        const res = await replay(p.tla, p.cfg, "reject");
        assert.ok(res.ok, `spec accepted a corrupted trace:\n${res.output}`);
      } else {
        const bad: TraceEvent[] = [...longest.events, { kind: "promote", job: "999999" }];
        const p = await writeTrace(tmp, "PropTrace_Corrupted", bad, cfg);
        const res = await replay(p.tla, p.cfg, "reject");
        assert.ok(res.ok, `spec accepted a corrupted trace:\n${res.output}`);
      }

      if (writeCommitted) {
        await Deno.mkdir(TRACES, { recursive: true });
        for (
          const r of [...nonEmpty].sort((a, b) => b.events.length - a.events.length).slice(0, 3)
        ) {
          await writeTrace(TRACES, r.name, r.events, cfg);
          console.log(`wrote correctness/property/traces/${r.name}.{tla,cfg}`);
        }
      }
      // The committed traces still replay (the spec and the exporter have not drifted).
      const committed: string[] = [];
      for await (const e of Deno.readDir(TRACES)) {
        if (e.name.endsWith(".tla")) committed.push(e.name.slice(0, -4));
      }
      assert.ok(committed.length >= 2, "no committed traces under correctness/property/traces/");
      for (const name of committed.sort()) {
        const res = await replay(
          join(TRACES, `${name}.tla`),
          join(TRACES, `${name}.cfg`),
          "accept",
        );
        assert.ok(res.ok, `committed trace ${name} is no longer accepted:\n${res.output}`);
      }
      console.log(`property_trace: ${committed.length} committed traces accepted`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
      await db.close();
    }
  },
});
