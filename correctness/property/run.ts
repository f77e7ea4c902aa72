/**
 * Shared fast-check settings for the property tests: a fixed, printed seed unless FC_SEED is
 * set, and FC_RUNS to change the number of runs.
 *
 * @module
 */
import fc from "fast-check";
import { commandArb, type Profile } from "./commands.ts";
import { Driver, type PropertyConfig, resetSchema, type Sql } from "./engine.ts";

export function fcSettings(name: string, defaultSeed: number, defaultRuns: number) {
  const seed = Number(Deno.env.get("FC_SEED") ?? defaultSeed);
  const numRuns = Number(Deno.env.get("FC_RUNS") ?? defaultRuns);
  console.log(`${name}: fast-check seed=${seed} numRuns=${numRuns} (override: FC_SEED, FC_RUNS)`);
  return { seed, numRuns };
}

/** A model-based property over the engine; returns the driver of the last run. */
export function modelProperty(
  sql: Sql,
  cfg: PropertyConfig,
  profile: Profile,
  maxCommands: number,
  onRun?: (d: Driver) => void | Promise<void>,
) {
  return fc.asyncProperty(commandArb(profile, maxCommands), async (cmds) => {
    await resetSchema(sql, cfg.schema);
    const d = new Driver(sql, cfg);
    await fc.asyncModelRun(() => ({ model: d.model, real: d }), cmds);
    try {
      await d.checkDb(true);
    } catch (e) {
      d.fail(e);
    }
    if (onRun) await onRun(d);
  });
}
