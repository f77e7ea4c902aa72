/**
 * DST in America/New_York through the fire-time function with an injected clock (2026: spring
 * forward on March 8 at 02:00 EST, fall back on November 1 at 02:00 EDT). An evaluator is
 * simulated every 30 s across each transition day, firing what `dueFires` owes and moving the
 * last fire as the leader does.
 */
import assert from "node:assert/strict";
import { dueFires, type MissedFirePolicy, parseCron } from "../../src/cron/fire_times.ts";

const NY = "America/New_York";

/** Every fire an evaluator running every `stepMs` from `from` to `to` enqueues. */
function simulate(
  expression: string,
  from: string,
  to: string,
  policy: MissedFirePolicy = "coalesce",
  stepMs = 30_000,
): string[] {
  const cron = parseCron(expression, NY, "expression");
  let last: Date | null = new Date(from);
  const fired: string[] = [];
  for (let now = Date.parse(from); now <= Date.parse(to); now += stepMs) {
    const due = dueFires(
      cron,
      { policy, lastEnqueuedAt: last, createdAt: new Date(from) },
      new Date(now),
    );
    for (const f of due) fired.push(f.toISOString());
    if (due.length > 0) last = due.at(-1)!;
  }
  return fired;
}

/** The New York calendar day of an instant. */
const nyDay = (iso: string) =>
  new Intl.DateTimeFormat("en-CA", { timeZone: NY, dateStyle: "short" }).format(new Date(iso));

Deno.test("30 2 * * * fires at most once on the spring-forward day (02:30 does not exist)", () => {
  for (const policy of ["coalesce", "catch_up"] as const) {
    const fired = simulate("30 2 * * *", "2026-03-07T12:00:00Z", "2026-03-09T12:00:00Z", policy);
    const onTheDay = fired.filter((f) => nyDay(f) === "2026-03-08");
    assert.ok(onTheDay.length <= 1, `${policy}: ${onTheDay}`);
    // croner's rule (as Vixie cron): a fixed time in the gap runs at the first valid time after it.
    assert.deepEqual(onTheDay, ["2026-03-08T07:00:00.000Z"], policy);
    assert.deepEqual(fired, [
      "2026-03-08T07:00:00.000Z",
      "2026-03-09T06:30:00.000Z",
    ], `${policy}: the days around it fire at 02:30 local`);
  }
});

Deno.test("30 1 * * * fires exactly once on the fall-back day (01:30 happens twice)", () => {
  for (const policy of ["coalesce", "catch_up"] as const) {
    const fired = simulate("30 1 * * *", "2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z", policy);
    const onTheDay = fired.filter((f) => nyDay(f) === "2026-11-01");
    assert.deepEqual(onTheDay, ["2026-11-01T05:30:00.000Z"], `${policy}: the first 01:30 (EDT)`);
    assert.deepEqual(fired, ["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"]);
  }
});

Deno.test("hourly right after the spring jump fires at 03:00 EDT = 07:00 UTC, one hour after 01:00 EST", () => {
  const fired = simulate("0 * * * *", "2026-03-08T05:30:00Z", "2026-03-08T09:30:00Z");
  assert.deepEqual(fired, [
    "2026-03-08T06:00:00.000Z", // 01:00 EST
    "2026-03-08T07:00:00.000Z", // 03:00 EDT: 02:00 never happened
    "2026-03-08T08:00:00.000Z",
    "2026-03-08T09:00:00.000Z",
  ]);
  // Coalescing across the jump after a missed evaluation still lands on the right UTC fire.
  const cron = parseCron("0 * * * *", NY, "expression");
  const due = dueFires(cron, {
    policy: "coalesce",
    lastEnqueuedAt: new Date("2026-03-08T06:00:00Z"),
    createdAt: new Date("2026-03-01T00:00:00Z"),
  }, new Date("2026-03-08T07:00:00Z"));
  assert.deepEqual(due.map((d) => d.toISOString()), ["2026-03-08T07:00:00.000Z"]);
});

Deno.test("an interval schedule fires on both 01:30s of the fall-back night", () => {
  const fired = simulate("30 * * * *", "2026-11-01T04:00:00Z", "2026-11-01T07:00:00Z");
  assert.deepEqual(fired, [
    "2026-11-01T04:30:00.000Z", // 00:30 EDT
    "2026-11-01T05:30:00.000Z", // 01:30 EDT
    "2026-11-01T06:30:00.000Z", // 01:30 EST
  ]);
});

Deno.test("6-field expressions fire on seconds; a fire at exactly now is due", () => {
  const cron = parseCron("*/15 * * * * *", "UTC", "expression");
  const state = {
    policy: "catch_up" as const,
    lastEnqueuedAt: new Date("2026-01-01T00:00:00Z"),
    createdAt: new Date("2025-01-01T00:00:00Z"),
  };
  assert.deepEqual(
    dueFires(cron, state, new Date("2026-01-01T00:01:00Z")).map((d) =>
      d.toISOString().slice(11, 19)
    ),
    ["00:00:15", "00:00:30", "00:00:45", "00:01:00"],
  );
  assert.deepEqual(dueFires(cron, state, new Date("2026-01-01T00:00:14.999Z")), []);
});

Deno.test("day of month and day of week combine with OR", () => {
  // The 13th, or any Friday: in February 2026 the 13th is itself a Friday.
  const cron = parseCron("0 0 13 * 5", "UTC", "expression");
  const fires = cron.nextRuns(6, new Date("2026-01-31T00:00:00Z")).map((d) =>
    d.toISOString().slice(0, 10)
  );
  assert.deepEqual(fires, [
    "2026-02-06",
    "2026-02-13",
    "2026-02-20",
    "2026-02-27",
    "2026-03-06",
    "2026-03-13",
  ]);
});
