/**
 * Carry-forward under random operation sequences (issue 9 item 17): the "stuck" command mix
 * leaves the queue unserved for runs of rotations, so live rows reach the oldest queue-ring
 * slot and prune carries them into the current slot (at most `carryLimit` = 3 per prune, or
 * refuses above it). The reference model predicts every carry and its rows; after every step
 * the §5 invariants are checked on the model and on the database, so a carried row that is
 * lost, duplicated, reordered or claimed twice fails the run.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { testDatabase } from "../support/db.ts";
import {
  DEFAULT_CONFIG,
  prepareSchema,
  type PropertyConfig,
  ringTableWrites,
} from "../../correctness/property/engine.ts";
import { fcSettings, modelProperty } from "../../correctness/property/run.ts";

Deno.test({
  name: "property: a stuck queue's rows are carried forward without loss or duplication",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const db = await testDatabase("property_stuck");
    try {
      const cfg: PropertyConfig = { ...DEFAULT_CONFIG, schema: "prop_stuck" };
      const sql = db.connect({ max: 1 });
      await prepareSchema(sql, cfg);
      const { seed, numRuns } = fcSettings("property_stuck", 1717, 10);
      const seen = new Map<string, number>();
      let claimedAfterCarry = 0;
      await fc.assert(
        modelProperty(sql, cfg, "stuck", 40, (d) => {
          let carried = false;
          for (const l of d.rec.log) {
            const p = /^prune Q .*-> (\w+)/.exec(l);
            if (p) seen.set(p[1], (seen.get(p[1]) ?? 0) + 1);
            if (p?.[1] === "carried") carried = true;
            if (carried && /^claim\(.*-> \[j/.test(l)) claimedAfterCarry++;
          }
        }),
        { seed, numRuns, endOnFailure: false, verbose: 1 },
      );
      console.log(
        `property_stuck: ring-Q prunes ${JSON.stringify(Object.fromEntries([...seen].sort()))}; ` +
          `${claimedAfterCarry} non-empty claims after a carry`,
      );
      if (!Deno.env.get("FC_SEED") && !Deno.env.get("FC_RUNS")) {
        for (const k of ["carried", "pruned"]) {
          assert.ok(seen.has(k), `no run reached prune Q ${k}`);
        }
        assert.ok(claimedAfterCarry > 0, "no claim after a carry");
      }
      await sql.end();
      const check = db.connect({ max: 1 });
      assert.deepEqual(await ringTableWrites(check, cfg.schema), []);
    } finally {
      await db.close();
    }
  },
});
