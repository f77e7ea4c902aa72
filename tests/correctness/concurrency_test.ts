/**
 * Concurrency property (issue #4 part 2): two claimers, a completer, a producer, a rotator, a
 * pruner, a rescuer/promoter and an admin (cancel, pause, resume, and pause then cancel in one
 * transaction, through src/admin), each on its own connection, race through
 * generated scripts on one lane with small rings. A deadlock (40P01) or any other error fails
 * the run; afterwards no attempt was claimed or closed twice, no lane position was emitted
 * twice, every job is in exactly one family, and after a sequential drain every job finished.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { testDatabase } from "../support/db.ts";
import {
  DEFAULT_CONFIG,
  prepareSchema,
  type PropertyConfig,
  resetSchema,
  ringTableWrites,
} from "../../correctness/property/engine.ts";
import { ConcurrentRun, scriptsArb } from "../../correctness/property/concurrent.ts";
import { fcSettings } from "../../correctness/property/run.ts";

Deno.test({
  name: "property: concurrent actors on real connections keep every job exactly once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const db = await testDatabase("property_concurrency");
    try {
      const cfg: PropertyConfig = { ...DEFAULT_CONFIG, schema: "prop_conc" };
      const admin = db.connect({ max: 1 });
      await prepareSchema(admin, cfg);
      const pools = Array.from({ length: 8 }, () => db.connect({ max: 1 }));
      const { seed, numRuns } = fcSettings("property_concurrency", 1234, 25);
      let claims = 0, closes = 0;
      await fc.assert(
        fc.asyncProperty(scriptsArb(), async (s) => {
          await resetSchema(admin, cfg.schema);
          const run = new ConcurrentRun(cfg);
          await run.produce(admin, s.seedJobs);
          await run.race(pools, s);
          const bad = [...run.obs.errors, ...await run.check(admin, "after race")];
          if (!bad.length) {
            await run.drain(admin);
            bad.push(...await run.check(admin, "after drain"));
            const fams = await run.families(admin);
            for (const [j, f] of fams) {
              if (f[0] !== "terminal" && f[0] !== "held") {
                bad.push(`after drain: j${j} is still ${f[0]}`);
              }
            }
          }
          claims += run.obs.claims.length;
          closes += run.obs.applied.length;
          if (bad.length) {
            throw new Error(
              `${bad.join("\n")}\nlast closes:\n  ${run.obs.log.slice(-30).join("\n  ")}`,
            );
          }
        }),
        { seed, numRuns, endOnFailure: false },
      );
      console.log(`property_concurrency: ${numRuns} runs, ${claims} claims, ${closes} closes`);
      await Promise.all([admin, ...pools].map((p) => p.end()));
      const check = db.connect({ max: 1 });
      assert.deepEqual(await ringTableWrites(check, cfg.schema), []);
    } finally {
      await db.close();
    }
  },
});
