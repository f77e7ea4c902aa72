/**
 * fast-check commands over the engine driver: each generated command runs one operation on
 * the real engine, checks it against the reference model, then checks the §5 invariants on
 * the model and on the database. `commandArb(profile)` builds the command mix:
 *
 * - "full": every operation, including ones the spec has no event for (snooze, admin cancel
 *   of running / deferred jobs, re-finalizing an already finalized attempt);
 * - "trace": only operations with a `TraceEvent` (the exported trace must be replayable);
 * - "stuck": every spec operation plus runs of rotations with no claim (an unserved or paused
 *   queue), so queue-ring prunes carry live rows forward.
 *
 * @module
 */
import fc from "fast-check";
import { type Driver, WORKERS } from "./engine.ts";
import type { Family, RefModel, WorkerOutcome } from "./model.ts";

type Cmd = fc.AsyncCommand<RefModel, Driver, boolean>;

abstract class Step implements Cmd {
  check(_m: Readonly<RefModel>): boolean {
    return true;
  }
  abstract exec(d: Driver): Promise<void>;
  async run(_m: RefModel, d: Driver): Promise<void> {
    try {
      await this.exec(d);
      await d.checkDb();
    } catch (e) {
      d.fail(e, this.toString());
    }
  }
  abstract toString(): string;
}

class Enqueue extends Step {
  exec(d: Driver) {
    return d.enqueue();
  }
  toString() {
    return "enqueue";
  }
}

class EnqueueMany extends Step {
  constructor(readonly n: number) {
    super();
  }
  exec(d: Driver) {
    return d.enqueueMany(this.n);
  }
  toString() {
    return `insertMany(${this.n})`;
  }
}

class Claim extends Step {
  constructor(readonly w: string, readonly max: number, readonly free?: number) {
    super();
  }
  async exec(d: Driver) {
    await d.claim(this.w, this.max, this.free);
  }
  toString() {
    return `claim(${this.w}, ${this.max}${this.free === undefined ? "" : `, free ${this.free}`})`;
  }
}

/** A worker starts a held (prefetched) attempt: its start is recorded. */
class Start extends Step {
  constructor(readonly w: string, readonly i: number) {
    super();
  }
  override check(m: Readonly<RefModel>) {
    return m.held[this.w].length > 0;
  }
  exec(d: Driver) {
    return d.start(this.w, this.i);
  }
  toString() {
    return `start(${this.w}, #${this.i})`;
  }
}

class Finalize extends Step {
  constructor(readonly w: string, readonly i: number, readonly o: WorkerOutcome) {
    super();
  }
  override check(m: Readonly<RefModel>) {
    return m.held[this.w].length > 0;
  }
  exec(d: Driver) {
    return d.finalize(this.w, this.i, this.o);
  }
  toString() {
    return `finalize(${this.w}, #${this.i}, ${this.o})`;
  }
}

class StaleFinalize extends Step {
  constructor(readonly w: string, readonly i: number, readonly o: WorkerOutcome) {
    super();
  }
  override check(m: Readonly<RefModel>) {
    return m.finished[this.w].length > 0;
  }
  exec(d: Driver) {
    return d.staleFinalize(this.w, this.i, this.o);
  }
  toString() {
    return `finalizeAgain(${this.w}, #${this.i}, ${this.o})`;
  }
}

class Crash extends Step {
  constructor(readonly w: string) {
    super();
  }
  override check(m: Readonly<RefModel>) {
    return m.held[this.w].length > 0;
  }
  exec(d: Driver) {
    d.crash(this.w);
    return Promise.resolve();
  }
  toString() {
    return `crash(${this.w})`;
  }
}

class Rescue extends Step {
  exec(d: Driver) {
    return d.rescue();
  }
  toString() {
    return "rescue";
  }
}

class Promote extends Step {
  exec(d: Driver) {
    return d.promote();
  }
  toString() {
    return "promote";
  }
}

class Rotate extends Step {
  constructor(readonly ring: "Q" | "C") {
    super();
  }
  exec(d: Driver) {
    return d.rotate(this.ring);
  }
  toString() {
    return `rotate(${this.ring})`;
  }
}

class Prune extends Step {
  constructor(readonly ring: "Q" | "C") {
    super();
  }
  exec(d: Driver) {
    return d.prune(this.ring);
  }
  toString() {
    return `prune(${this.ring})`;
  }
}

/** Rotate then prune, the way the leader's maintenance tick does it. */
class Maintain extends Step {
  constructor(readonly ring: "Q" | "C") {
    super();
  }
  async exec(d: Driver) {
    await d.rotate(this.ring);
    await d.checkDb(true);
    await d.prune(this.ring);
  }
  toString() {
    return `rotate+prune(${this.ring})`;
  }
}

/** A stuck (unserved or paused) queue while the ring keeps turning. */
class Stuck extends Step {
  constructor(readonly n: number) {
    super();
  }
  exec(d: Driver) {
    return d.stuck(this.n);
  }
  toString() {
    return `stuck(${this.n})`;
  }
}

class AdminCancel extends Step {
  /** `strict`: only a job of the target family, or nothing (trace runs stay in the spec). */
  constructor(readonly i: number, readonly target: Family | "any", readonly strict = false) {
    super();
  }
  exec(d: Driver) {
    return d.adminCancel(this.i, this.target, this.strict);
  }
  toString() {
    return `cancel_job(#${this.i}, ${this.target})`;
  }
}

class DlqRetry extends Step {
  constructor(readonly i: number) {
    super();
  }
  exec(d: Driver) {
    return d.dlqRetry(this.i);
  }
  toString() {
    return `retry_held(#${this.i})`;
  }
}

class Purge extends Step {
  constructor(readonly i: number) {
    super();
  }
  override check(m: Readonly<RefModel>) {
    return m.hold.size > 0;
  }
  exec(d: Driver) {
    return d.purge(this.i);
  }
  toString() {
    return `purge(#${this.i})`;
  }
}

export type Profile = "full" | "trace" | "stuck";

/** The command mix; `maxCommands` bounds the length of a generated run. */
export function commandArb(profile: Profile, maxCommands: number) {
  const w = fc.constantFrom(...WORKERS);
  const idx = fc.nat({ max: 50 });
  const outcome = fc.constantFrom<WorkerOutcome>("completed", "retry", "fail", "cancel", "snooze");
  const ring = fc.constantFrom<"Q" | "C">("Q", "C");
  const cmds: fc.Arbitrary<Cmd>[] = [
    fc.constant(new Enqueue()),
    fc.integer({ min: 1, max: 3 }).map((n) => new EnqueueMany(n)),
    fc.tuple(w, fc.integer({ min: 1, max: 3 })).map(([a, b]) => new Claim(a, b)),
    // Full runs: the second claim may have fewer free workers than rows (prefetch), holding the
    // rest until they start. Trace runs keep their mix: starts have no trace event.
    profile === "full"
      ? fc.tuple(w, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 3 }))
        .map(([a, b, c]) => new Claim(a, b, c))
      : fc.tuple(w, fc.integer({ min: 1, max: 3 })).map(([a, b]) => new Claim(a, b)),
    fc.tuple(w, idx, outcome).map(([a, b, c]) => new Finalize(a, b, c)),
    fc.tuple(w, idx, outcome).map(([a, b, c]) => new Finalize(a, b, c)),
    w.map((a) => new Crash(a)),
    fc.constant(new Rescue()),
    fc.constant(new Promote()),
    ring.map((r) => new Rotate(r)),
    ring.map((r) => new Prune(r)),
    ring.map((r) => new Maintain(r)),
    ring.map((r) => new Maintain(r)),
    fc.tuple(
      idx,
      profile === "trace"
        ? fc.constantFrom<Family>("ready", "running")
        : fc.constantFrom<Family | "any">("any", "ready", "running", "deferred", "held"),
    ).map(([i, t]) => new AdminCancel(i, t, profile === "trace")),
    idx.map((i) => new DlqRetry(i)),
    idx.map((i) => new Purge(i)),
  ];
  if (profile === "stuck") {
    // The queue goes unserved for a few rotations again and again, so rows reach the oldest
    // slot unclaimed and prune carries them (or refuses above the carry limit).
    for (let k = 0; k < 3; k++) cmds.push(fc.integer({ min: 2, max: 6 }).map((n) => new Stuck(n)));
  } else if (profile === "full") {
    cmds.push(fc.tuple(w, idx).map(([a, b]) => new Start(a, b)));
    cmds.push(fc.tuple(w, idx, outcome).map(([a, b, c]) => new StaleFinalize(a, b, c)));
  } else {
    // Trace runs rescue any open attempt at any time (time is abstract), which left almost no
    // worker finalization in the recorded traces; weigh finalization up.
    for (let k = 0; k < 4; k++) {
      cmds.push(fc.tuple(w, idx, outcome).map(([a, b, c]) => new Finalize(a, b, c)));
    }
  }
  return fc.commands(cmds, { maxCommands, size: "max" });
}
