/**
 * Fencing of maintenance leadership (issue 9 item 4): the leader's lock connection is
 * terminated ten times while a follower is ready; a deposed leader must not run a maintenance
 * step once its successor has started running steps.
 *
 * Every call of `awa.promote_due` (the most frequent step) is logged with the client's
 * application name and the server clock. After each termination, the overlap is the number of
 * steps the old leader ran after the first step of a different new leader.
 */
import assert from "node:assert/strict";
import { Client, defineJob } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, sleep, waitFor, withTimings } from "../support/runtime.ts";

const t = await testDatabase("maintenance_fencing");
const sql = t.sql;
const LEADER_KEY = "4708303813012965710";

await sql.unsafe(`
  CREATE TABLE public.step_log (app text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
  ALTER FUNCTION awa.promote_due(int) RENAME TO promote_due_unlogged;
  CREATE FUNCTION awa.promote_due(p_limit int DEFAULT 4096) RETURNS int LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO public.step_log (app) VALUES (current_setting('application_name'));
    RETURN awa.promote_due_unlogged(p_limit);
  END $$;`);

/** The backend holding the leader lock, with its client's application name. */
async function holder(): Promise<{ pid: number; app: string } | null> {
  const rows = await sql<{ pid: number; app: string }[]>`
    SELECT l.pid, a.application_name AS app FROM pg_locks l
    JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = oid((${LEADER_KEY}::bigint >> 32) & 4294967295)
      AND l.objid = oid(${LEADER_KEY}::bigint & 4294967295)`;
  return rows[0] ?? null;
}

Deno.test({
  name: "a deposed leader runs no step beside its successor (10 lock terminations, 1 s ping)",
  ...POOL_TEST,
  async fn() {
    const timings = withTimings({
      maintenance: { leader: { pingMs: 1000 }, promote: { intervalMs: 20 } },
    });
    const tick = defineJob<{ n: number }>("tick", { queue: "fence" });
    const errors: string[] = [];
    const make = (name: string, db: Parameters<typeof t.connect>[0] | string) => {
      const c = new Client(
        typeof db === "string" ? db : t.connect(db),
        { queues: { fence: {} }, ...timings },
      );
      c.work(tick, () => name);
      c.on("error", (e) => void errors.push(`${name} ${e.where}: ${e.error}`));
      return c;
    };
    // One client on a given pool (the lock connection is reserved from it), one from a URL
    // (the lock lives on a connection of its own).
    const a = make("a", { connection: { application_name: "a" } });
    const b = make("b", `${t.url}?application_name=b`);
    const clients = { a, b } as Record<string, Client>;
    const windows: { old: string; next: string; killAt: Date; endAt: Date }[] = [];
    try {
      await a.start();
      await b.start();
      for (let i = 0; i < 10; i++) {
        const before = await waitFor("one lock holder and one leader", async () => {
          const h = await holder();
          const leaders = [a, b].filter((c) => c.isLeader);
          return h && leaders.length === 1 && clients[h.app] === leaders[0] ? h : null;
        });
        // Let the leader run steps before the kill.
        await sleep(100);
        const [{ now: killAt }] = await sql<{ now: Date }[]>`SELECT clock_timestamp() AS now`;
        await sql`SELECT pg_terminate_backend(${before.pid})`;
        const after = await waitFor("a new lock holder", async () => {
          const h = await holder();
          return h && h.pid !== before.pid ? h : null;
        }, 15_000);
        // Longer than the old leader's ping: whatever it would do unfenced, it has done.
        await sleep(1300);
        const [{ now: endAt }] = await sql<{ now: Date }[]>`SELECT clock_timestamp() AS now`;
        windows.push({ old: before.app, next: after.app, killAt, endAt });
      }

      let overlapping = 0;
      let overlapMs = 0;
      let changes = 0;
      for (const w of windows) {
        const steps = await sql<{ app: string; at: Date }[]>`
          SELECT app, at FROM public.step_log WHERE at > ${w.killAt} AND at <= ${w.endAt}
          ORDER BY at`;
        if (w.next === w.old) continue; // re-elected: no second process to overlap with
        changes++;
        const first = steps.find((s) => s.app === w.next);
        assert.ok(first, `the new leader ${w.next} ran steps`);
        const late = steps.filter((s) => s.app === w.old && s.at > first.at);
        overlapping += late.length;
        if (late.length) overlapMs += late.at(-1)!.at.getTime() - first.at.getTime();
      }
      console.log(
        `leadership changed process in ${changes}/10 terminations; old-leader steps after the ` +
          `new leader's first: ${overlapping} (${overlapMs} ms in total)`,
      );
      assert.ok(changes > 0, "at least one termination moved leadership to the other process");
      assert.equal(overlapping, 0, "steps of a deposed leader after its successor's first step");

      const [{ n }] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM public.step_log`;
      assert.ok(n > 0);
      const unexpected = errors.filter((e) =>
        !/leader connection lost|57P01|terminat|CONNECTION/i.test(e)
      );
      assert.deepEqual(unexpected, []);
    } finally {
      await a.shutdown({ timeoutMs: 1000 });
      await b.shutdown({ timeoutMs: 1000 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
