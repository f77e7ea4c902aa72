/**
 * A small reference model of the storage engine for ONE lane, ported from the variables and
 * guards of correctness/specs/AwaSegmentedStorage.tla (rq, rc, plain, jl, held, ghosts).
 *
 * The driver (engine.ts) runs every operation against the real engine and then hands the
 * engine's answer to the model, which (1) checks that the answer is the one the spec allows
 * in the current state (the model predicts claims, stale verdicts, destinations, rotate and
 * prune outcomes exactly, because runs are sequential) and (2) applies it. `invariants()`
 * checks the engine invariants (docs/storage.md, correctness/README.md) on the model after every step.
 *
 * Positions are the engine's real `lane_seq` values (only their order matters) and receipts
 * are `batch_id * 65536 + idx`; slots are the engine's real slot numbers.
 *
 * @module
 */

/** The five families a job can be in ("no lost work"). */
export type Family = "ready" | "running" | "deferred" | "terminal" | "held";
export const FAMILIES: readonly Family[] = ["ready", "running", "deferred", "terminal", "held"];

/** Outcomes a worker can flush (the engine's `finalize_attempts` item outcomes). */
export type WorkerOutcome = "completed" | "retry" | "fail" | "snooze" | "cancel";

/** An attempt as a worker holds it: its receipt and the identity it was claimed under. */
export interface Attempt {
  job: string;
  lease: number;
  receipt: string;
  claimSlot: number;
  batchId: string;
  idx: number;
}

/** A row the engine reports for a claim. */
export interface ClaimedRowView {
  job: string;
  lease: number;
  attempt: number;
  claimSlot: number;
  batchId: string;
  idx: number;
  /** Claimed ahead of the free workers (`awa.claim_batch` p_free). */
  held: boolean;
}

/** A ready row the engine appended (enqueue, promotion, DLQ retry). */
export interface AppendedRow {
  job: string;
  pos: number;
  slot: number;
  lease: number;
  attempt: number;
}

/** What a closed attempt turned into, as `finalize_attempts` reports it in `state`. */
export type CloseState = "completed" | "cancelled" | "scheduled" | "retryable" | "failed";

export type RotateResult = "rotated" | "skipped_busy" | "skipped_idle";
export type PruneResult =
  | "pruned"
  | "carried"
  | "already_pruned"
  | "nothing"
  | "skipped_live"
  | "skipped_carry_limit";

interface Row {
  pos: number;
  slot: number;
  job: string;
}

interface Batch {
  job: string;
  lease: number;
  attempt: number;
  c: number;
  q: number;
  closed: boolean;
  /** Started at claim, or its start recorded later; false: held (prefetched), never started. */
  started: boolean;
}

/** A step the engine took that the spec does not allow here. */
export class ModelViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelViolation";
  }
}

function fail(message: string): never {
  throw new ModelViolation(message);
}

export class RefModel {
  readonly qN: number;
  readonly cN: number;
  readonly workers: readonly string[];
  // ring Q
  qCur = 0;
  qGen = 0;
  rows = new Map<number, Row>();
  tomb = new Set<number>();
  emis = new Map<number, number>();
  done = new Map<string, { slot: number; st: string; wide: boolean }>();
  // ring C (receipt -> batch member)
  cCur = 0;
  cGen = 0;
  batches = new Map<string, Batch>();
  // plain tables
  deferred = new Map<string, "retryable" | "scheduled">();
  hold = new Set<string>();
  // per job: newest run_lease, attempt counter, max_attempts
  jl = new Map<string, { lease: number; attempt: number; max: number }>();
  // workers
  held: Record<string, Attempt[]> = {};
  finished: Record<string, Attempt[]> = {};
  // ghosts
  jobs: string[] = [];
  committed = new Set<string>();
  retired = new Set<string>();
  claimed = new Set<number>();
  closedEver = new Set<string>();
  maxPos = 0;

  /** Most live rows a queue-ring prune carries forward (migration 010); 0 turns carrying off. */
  readonly carryLimit: number;

  constructor(
    opts: { qSlots: number; cSlots: number; workers: readonly string[]; carryLimit?: number },
  ) {
    this.carryLimit = opts.carryLimit ?? 0;
    this.qN = opts.qSlots;
    this.cN = opts.cSlots;
    this.workers = opts.workers;
    for (const w of opts.workers) {
      this.held[w] = [];
      this.finished[w] = [];
    }
  }

  // ---------------------------------------------------------------- derived views

  cursor(): number {
    let c = 0;
    for (const v of this.emis.values()) c = Math.max(c, v);
    return c;
  }

  /** Committed, non-tombstoned rows at or above the cursor, in lane order. */
  unspent(): Row[] {
    const c = this.cursor();
    return [...this.rows.values()].filter((r) => r.pos >= c && !this.tomb.has(r.pos))
      .sort((a, b) => a.pos - b.pos);
  }

  open(receipt: string): boolean {
    const b = this.batches.get(receipt);
    return b !== undefined && !b.closed;
  }

  openReceipts(): [string, Batch][] {
    return [...this.batches.entries()].filter(([, b]) => !b.closed);
  }

  /** The families job j is in (a correct engine: exactly one, or none once retired). */
  families(j: string): Family[] {
    const out: Family[] = [];
    for (const r of this.unspent()) if (r.job === j) out.push("ready");
    for (const [, b] of this.openReceipts()) if (b.job === j) out.push("running");
    if (this.deferred.has(j)) out.push("deferred");
    if (this.done.has(j)) out.push("terminal");
    if (this.hold.has(j)) out.push("held");
    return out;
  }

  /** The single family of a live job, or undefined. */
  familyOf(j: string): Family | undefined {
    const f = this.families(j);
    return f.length === 1 ? f[0] : undefined;
  }

  qSlotNonEmpty(s: number): boolean {
    for (const r of this.rows.values()) if (r.slot === s) return true;
    if (this.emis.has(s)) return true;
    for (const d of this.done.values()) if (d.slot === s) return true;
    return false;
  }

  cSlotNonEmpty(s: number): boolean {
    for (const b of this.batches.values()) if (b.c === s) return true;
    return false;
  }

  liveJobs(): string[] {
    return this.jobs.filter((j) => !this.retired.has(j));
  }

  // ---------------------------------------------------------------- appends

  private append(row: AppendedRow, what: string): void {
    if (!(row.pos > this.maxPos)) {
      fail(`${what} j${row.job}: lane position ${row.pos} not above the previous ${this.maxPos}`);
    }
    if (row.slot !== this.qCur) {
      fail(`${what} j${row.job}: row in ring-Q slot ${row.slot}, current slot is ${this.qCur}`);
    }
    const jl = this.jl.get(row.job)!;
    if (row.lease !== jl.lease || row.attempt !== jl.attempt) {
      fail(
        `${what} j${row.job}: row has run_lease ${row.lease} attempt ${row.attempt}, ` +
          `model has ${jl.lease}/${jl.attempt}`,
      );
    }
    this.maxPos = row.pos;
    this.rows.set(row.pos, { pos: row.pos, slot: row.slot, job: row.job });
  }

  enqueue(row: AppendedRow, maxAttempts: number): void {
    if (this.committed.has(row.job) || this.retired.has(row.job)) {
      fail(`enqueue reused job id ${row.job}`);
    }
    this.jl.set(row.job, { lease: 0, attempt: 0, max: maxAttempts });
    this.append(row, "enqueue");
    this.committed.add(row.job);
    this.jobs.push(row.job);
  }

  // ---------------------------------------------------------------- claim

  /** Rows a claim of at most `max` must take: the head slot's run, in lane order. */
  expectClaim(max: number): Row[] {
    const u = this.unspent();
    if (u.length === 0) return [];
    const head = u[0].slot;
    const out: Row[] = [];
    for (const r of u) {
      if (r.slot !== head || out.length >= max) break;
      out.push(r);
    }
    return out;
  }

  /** A claim of at most `max` rows of which the first `free` start at once. */
  claim(worker: string, max: number, got: ClaimedRowView[], free = max): Attempt[] {
    const want = this.expectClaim(max);
    const wantS = want.map((r) => `j${r.job}`).join(",");
    const gotS = got.map((r) => `j${r.job}`).join(",");
    if (wantS !== gotS) {
      fail(`claim(${worker}, max ${max}): engine took [${gotS}], the lane head allows [${wantS}]`);
    }
    const out: Attempt[] = [];
    got.forEach((g, i) => {
      const jl = this.jl.get(g.job)!;
      if (g.lease !== jl.lease + 1 || g.attempt !== jl.attempt + 1) {
        fail(
          `claim j${g.job}: run_lease ${g.lease} attempt ${g.attempt}, model expects ` +
            `${jl.lease + 1}/${jl.attempt + 1}`,
        );
      }
      if (g.claimSlot !== this.cCur) {
        fail(`claim j${g.job}: batch in ring-C slot ${g.claimSlot}, current is ${this.cCur}`);
      }
      const receipt = String(BigInt(g.batchId) * 65536n + BigInt(g.idx));
      if (this.batches.has(receipt)) fail(`claim j${g.job}: receipt ${receipt} reused`);
      if (g.held !== i >= free) {
        fail(`claim j${g.job}: row ${i} of a claim with ${free} free is held=${g.held}`);
      }
      this.batches.set(receipt, {
        job: g.job,
        lease: g.lease,
        attempt: g.attempt,
        c: g.claimSlot,
        q: want[i].slot,
        closed: false,
        started: !g.held,
      });
      this.jl.set(g.job, { ...jl, lease: g.lease, attempt: g.attempt });
      this.claimed.add(want[i].pos);
      const a: Attempt = {
        job: g.job,
        lease: g.lease,
        receipt,
        claimSlot: g.claimSlot,
        batchId: g.batchId,
        idx: g.idx,
      };
      this.held[worker].push(a);
      out.push(a);
    });
    if (want.length > 0) {
      const head = want[0].slot;
      const nx = want[want.length - 1].pos + 1;
      this.emis.set(head, Math.max(this.emis.get(head) ?? 0, nx));
    }
    return out;
  }

  // ---------------------------------------------------------------- closing attempts

  /** Destination of closing the attempt of `receipt` with `outcome`. */
  closeState(receipt: string, outcome: WorkerOutcome | "rescue"): CloseState {
    const b = this.batches.get(receipt)!;
    const max = this.jl.get(b.job)!.max;
    switch (outcome) {
      case "completed":
        return "completed";
      case "cancel":
        return "cancelled";
      case "snooze":
        return "scheduled";
      case "fail":
        return "failed";
      default:
        return b.attempt >= max ? "failed" : "retryable";
    }
  }

  private close(receipt: string, st: CloseState): void {
    const b = this.batches.get(receipt)!;
    b.closed = true;
    this.closedEver.add(receipt);
    const jl = this.jl.get(b.job)!;
    if (st === "completed" || st === "cancelled") {
      this.done.set(b.job, { slot: b.q, st, wide: false });
    } else if (st === "retryable" || st === "scheduled") {
      this.deferred.set(b.job, st);
      if (st === "scheduled") jl.attempt -= 1;
    } else {
      this.hold.add(b.job);
    }
  }

  /**
   * A worker's flush of `a` with `outcome`; `applied` is the engine's state for it, or null
   * when the engine reported it stale. Returns the expected verdict.
   */
  finalize(
    worker: string,
    a: Attempt,
    outcome: WorkerOutcome,
    applied: string | null,
  ): { stale: boolean; state: CloseState | null } {
    const stale = !this.open(a.receipt) ||
      this.batches.get(a.receipt)!.job !== a.job ||
      this.batches.get(a.receipt)!.lease !== a.lease;
    const state = stale ? null : this.closeState(a.receipt, outcome);
    if (stale && applied !== null) {
      fail(
        `finalize(${worker}, j${a.job} receipt ${a.receipt}, ${outcome}): engine APPLIED it ` +
          `(${applied}) but the receipt is closed: a stale finalization changed storage`,
      );
    }
    if (!stale && applied === null) {
      fail(
        `finalize(${worker}, j${a.job} receipt ${a.receipt}, ${outcome}): engine reported ` +
          `stale but the receipt is open`,
      );
    }
    if (!stale && applied !== state) {
      fail(`finalize j${a.job} ${outcome}: engine state ${applied}, model expects ${state}`);
    }
    const h = this.held[worker];
    const i = h.indexOf(a);
    if (i >= 0) {
      h.splice(i, 1);
      this.finished[worker].push(a);
    }
    if (!stale) this.close(a.receipt, state!);
    return { stale, state };
  }

  /** The worker recorded the start of its held attempt `a` (`awa.record_starts`). */
  start(a: Attempt): void {
    const b = this.batches.get(a.receipt);
    if (b) b.started = true;
  }

  /** Whether `a` is a held attempt of an open receipt whose start is not recorded yet. */
  unstarted(a: Attempt): boolean {
    const b = this.batches.get(a.receipt);
    return b !== undefined && !b.closed && !b.started;
  }

  crash(worker: string): number {
    const n = this.held[worker].length;
    this.held[worker] = [];
    this.finished[worker] = [];
    return n;
  }

  /**
   * Rescue with staleness 0 closes every open attempt; `got` is what the engine closed. A held
   * attempt that never started goes back uncounted (scheduled, attempt restored).
   */
  rescue(
    got: { job: string; lease: number; state: string }[],
  ): { receipt: string; job: string; state: CloseState }[] {
    const want = this.openReceipts();
    const key = (j: string, l: number) => `j${j}@${l}`;
    const wantS = want.map(([, b]) => key(b.job, b.lease)).sort().join(",");
    const gotS = got.map((g) => key(g.job, g.lease)).sort().join(",");
    if (wantS !== gotS) {
      fail(`rescue closed [${gotS}], the open attempts are [${wantS}]`);
    }
    const out: { receipt: string; job: string; state: CloseState }[] = [];
    for (const [receipt, b] of want) {
      const st = b.started ? this.closeState(receipt, "rescue") : "scheduled";
      const g = got.find((x) => x.job === b.job && x.lease === b.lease)!;
      if (g.state !== st) fail(`rescue j${b.job}: engine state ${g.state}, model expects ${st}`);
      out.push({ receipt, job: b.job, state: st });
    }
    for (const o of out) this.close(o.receipt, o.state);
    return out;
  }

  // ---------------------------------------------------------------- promotion, cancel, DLQ

  /** Every deferred job is due (delays are 0): all of them must come back, in some order. */
  promote(count: number, rows: AppendedRow[]): void {
    const want = [...this.deferred.keys()].sort().join(",");
    const got = rows.map((r) => r.job).sort().join(",");
    if (want !== got || count !== rows.length) {
      fail(`promote moved ${count} [${got}], the due deferred jobs are [${want}]`);
    }
    for (const r of rows) {
      this.deferred.delete(r.job);
      this.append(r, "promote");
    }
  }

  /** Admin cancel (`awa.cancel_job`): the expected result, then applies it. */
  cancel(job: string, result: string | null, row?: { pos: number }): string | null {
    const fam = this.familyOf(job);
    let want: string | null = null;
    if (fam === "deferred" || fam === "ready" || fam === "running") want = "cancelled";
    if (want !== result) {
      fail(`cancel_job(j${job}) in family ${fam}: engine returned ${result}, expected ${want}`);
    }
    if (fam === "deferred") {
      this.deferred.delete(job);
      this.done.set(job, { slot: this.qCur, st: "cancelled", wide: true });
    } else if (fam === "ready") {
      const r = this.unspent().find((x) => x.job === job)!;
      if (row && row.pos !== r.pos) fail(`cancel_job(j${job}) tombstoned ${row.pos}, not ${r.pos}`);
      this.tomb.add(r.pos);
      this.done.set(job, { slot: r.slot, st: "cancelled", wide: false });
    } else if (fam === "running") {
      const [receipt] = this.openReceipts().find(([, b]) => b.job === job)!;
      this.close(receipt, "cancelled");
    }
    return want;
  }

  /** `awa.retry_held`: `row` is the new ready row when the engine returned the job. */
  dlqRetry(job: string, result: string | null, row?: AppendedRow): void {
    const inHold = this.hold.has(job);
    if (inHold !== (result !== null)) {
      fail(`retry_held(j${job}): engine returned ${result}, job ${inHold ? "is" : "is not"} held`);
    }
    if (!inHold) return;
    if (!row) fail(`retry_held(j${job}): no new ready row appended`);
    this.hold.delete(job);
    const jl = this.jl.get(job)!;
    this.jl.set(job, { ...jl, lease: 0, attempt: 0 });
    this.append(row, "dlqRetry");
  }

  purge(job: string, deleted: number): void {
    const inHold = this.hold.has(job);
    if (deleted !== (inHold ? 1 : 0)) fail(`purge j${job}: deleted ${deleted} rows`);
    if (inHold) {
      this.hold.delete(job);
      this.retired.add(job);
    }
  }

  // ---------------------------------------------------------------- rotation and prune

  rotate(ring: "Q" | "C", result: string): void {
    const n = ring === "Q" ? this.qN : this.cN;
    const cur = ring === "Q" ? this.qCur : this.cCur;
    const next = (cur + 1) % n;
    const busy = ring === "Q" ? this.qSlotNonEmpty(next) : this.cSlotNonEmpty(next);
    const idle = ring === "Q"
      ? this.rows.size === 0 && this.done.size === 0
      : this.batches.size === 0;
    const want: RotateResult = busy ? "skipped_busy" : idle ? "skipped_idle" : "rotated";
    if (want !== result) {
      fail(`rotate ring ${ring} (slot ${cur} -> ${next}): engine ${result}, model expects ${want}`);
    }
    if (want !== "rotated") return;
    if (ring === "Q") {
      this.qCur = next;
      this.qGen++;
    } else {
      this.cCur = next;
      this.cGen++;
    }
  }

  pruneTarget(ring: "Q" | "C"): number | null {
    const n = ring === "Q" ? this.qN : this.cN;
    const gen = ring === "Q" ? this.qGen : this.cGen;
    const cur = ring === "Q" ? this.qCur : this.cCur;
    const k = Math.min(gen + 1, n);
    return k < 2 ? null : (cur - (k - 1) + n) % n;
  }

  /** Open receipts claimed from ring-Q slot t (gate (a)), described, or null. */
  qOpenClaims(t: number): string | null {
    const open = [...this.batches.entries()].filter(([, b]) => b.q === t && !b.closed);
    return open.length
      ? `open receipts ${open.map(([r, b]) => `${r}(j${b.job})`).join(",")}`
      : null;
  }

  /** Live rows of ring-Q slot t (gate (b)): untombstoned, at or above the cursor. */
  qLiveRows(t: number): Row[] {
    const c = this.cursor();
    return [...this.rows.values()].filter((r) =>
      r.slot === t && r.pos >= c && !this.tomb.has(r.pos)
    );
  }

  /** Why slot t of ring Q must not be pruned (gates), or null. */
  qGateFailure(t: number): string | null {
    const open = this.qOpenClaims(t);
    if (open) return open;
    const pending = this.qLiveRows(t);
    if (pending.length) {
      return `unclaimed rows ${pending.map((r) => `j${r.job}@${r.pos}`).join(",")}`;
    }
    return null;
  }

  cGateFailure(t: number): string | null {
    const open = [...this.batches.entries()].filter(([, b]) => b.c === t && !b.closed);
    return open.length
      ? `open receipts ${open.map(([r, b]) => `${r}(j${b.job})`).join(",")}`
      : null;
  }

  /**
   * The prune outcome the engine must report. Ring Q carries (migration 010) once the ring has
   * wrapped, when gate (a) holds and at most `carryLimit` live rows keep the slot alive.
   */
  expectPrune(ring: "Q" | "C"): { want: PruneResult; why: string | null; carry: Row[] } {
    const t = this.pruneTarget(ring);
    if (t === null) return { want: "nothing", why: null, carry: [] };
    if (!(ring === "Q" ? this.qSlotNonEmpty(t) : this.cSlotNonEmpty(t))) {
      return { want: "already_pruned", why: null, carry: [] };
    }
    if (ring === "C") {
      const why = this.cGateFailure(t);
      return { want: why ? "skipped_live" : "pruned", why, carry: [] };
    }
    const open = this.qOpenClaims(t);
    if (open) return { want: "skipped_live", why: open, carry: [] };
    const live = this.qLiveRows(t);
    if (live.length === 0) return { want: "pruned", why: null, carry: [] };
    const limit = this.qGen + 1 >= this.qN ? this.carryLimit : 0;
    const why = this.qGateFailure(t);
    if (live.length > limit) {
      return { want: limit > 0 ? "skipped_carry_limit" : "skipped_live", why, carry: [] };
    }
    return { want: "carried", why: null, carry: live };
  }

  prune(ring: "Q" | "C", result: string): void {
    const t = this.pruneTarget(ring);
    const { want, why, carry } = this.expectPrune(ring);
    if (want !== result) {
      fail(
        `prune ring ${ring} target slot ${t}: engine ${result}, model expects ${want}` +
          (why ? ` (the slot is live: ${why})` : ""),
      );
    }
    if (want !== "pruned" && want !== "carried") return;
    if (ring === "Q") {
      // Carried rows keep their position; only their slot changes, to the current one.
      for (const r of carry) r.slot = this.qCur;
      for (const [p, r] of [...this.rows]) {
        if (r.slot === t) {
          this.rows.delete(p);
          this.tomb.delete(p);
        }
      }
      this.emis.delete(t!);
      for (const [j, d] of [...this.done]) {
        if (d.slot === t) {
          this.done.delete(j);
          this.retired.add(j);
        }
      }
    } else {
      for (const [r, b] of [...this.batches]) if (b.c === t) this.batches.delete(r);
    }
  }

  // ---------------------------------------------------------------- invariants (§5)

  /** Throws ModelViolation naming the first invariant that does not hold. */
  invariants(): void {
    // 5.5 no lost job, 5.11 hold isolated: exactly one family per live job, none when retired.
    for (const j of this.jobs) {
      const f = this.families(j);
      const want = this.retired.has(j) ? 0 : 1;
      if (f.length !== want) fail(`NoLostJob: j${j} is in [${f.join(",")}]`);
    }
    // 5.1 single live attempt carrying the newest run_lease.
    const seen = new Set<string>();
    for (const [r, b] of this.openReceipts()) {
      if (seen.has(b.job)) fail(`SingleLiveAttempt: j${b.job} has two open receipts`);
      seen.add(b.job);
      if (b.lease !== this.jl.get(b.job)!.lease) {
        fail(`SingleLiveAttempt: open receipt ${r} of j${b.job} has an old run_lease`);
      }
      // the open attempt keeps its body in its ready slot
      if (![...this.rows.values()].some((x) => x.job === b.job && x.slot === b.q)) {
        fail(`OpenAttemptKeepsBody: j${b.job} receipt ${r}`);
      }
    }
    // 5.7 cursor safety.
    const c = this.cursor();
    for (const r of this.rows.values()) {
      if (this.tomb.has(r.pos)) continue;
      if ((r.pos < c) !== this.claimed.has(r.pos)) {
        fail(
          `CursorSafety: row j${r.job}@${r.pos}, cursor ${c}, claimed ${this.claimed.has(r.pos)}`,
        );
      }
    }
    // terminal rows keep their body in the same slot (wide rows carry their own).
    for (const [j, d] of this.done) {
      if (d.wide) continue;
      if (![...this.rows.values()].some((x) => x.job === j && x.slot === d.slot)) {
        fail(`TerminalKeepsBody: j${j}`);
      }
    }
    // 5.12 ring shape: the prune target is never the current slot.
    for (const ring of ["Q", "C"] as const) {
      const t = this.pruneTarget(ring);
      if (t !== null && t === (ring === "Q" ? this.qCur : this.cCur)) {
        fail(`RingShape: ring ${ring} prune target is the current slot`);
      }
    }
  }
}
