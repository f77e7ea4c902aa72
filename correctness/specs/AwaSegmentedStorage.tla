--------------------------- MODULE AwaSegmentedStorage ---------------------------
(***************************************************************************)
(* Segment lifecycle of the Awa storage engine (docs/storage.md). *)
(*                                                                         *)
(* One lane (queue, priority, enqueue_shard).  Two rings:                  *)
(*   ring Q (QSlots slots): ready_entries, ready_tombstones,               *)
(*          claim_emissions, done_entries;                                 *)
(*   ring C (CSlots slots): claim_batches (one receipt per batch here)     *)
(*          and claim_closures.                                            *)
(* Plain tables: deferred_jobs, dlq_entries.                               *)
(*                                                                         *)
(* Rows carry their slot only: generations are informational (3.9) and no  *)
(* gate filters by them, so they are not modelled.  Lane positions come    *)
(* from a lane sequence that never resets, so tables are kept as functions *)
(* indexed by lane position (Pos) and by receipt id (Rcpts); -1 = no row.  *)
(* Variables are grouped into a few records (one per plane) because        *)
(* tla-checker's cost per state grows with the number of variables.       *)
(*                                                                         *)
(* Concurrency modelled explicitly:                                        *)
(*  - a producer may stall between reading the ring-Q cursor and inserting *)
(*    (EnqueueBegin / EnqueueCommit) while it holds the enqueue lock, so   *)
(*    its row may land in a slot that was sealed, pruned or reopened;      *)
(*  - a claim ranks lanes on a snapshot (ClaimBegin, no lock yet) and only *)
(*    later locks the lane and commits (ClaimCommit); rotation, prune,     *)
(*    other claims and slot reuse may happen in between.  Claim steps 2-4  *)
(*    are one atomic step: they run under the lane lock, and the partition *)
(*    locks they take keep prune out until commit;                         *)
(*  - workers keep their own snapshot of the attempts they run, so a       *)
(*    finalization may arrive after rescue closed the attempt (stale).     *)
(*                                                                         *)
(* Switches for Broken configs (same spec, different constants):          *)
(*  StaleSlotClaim = TRUE: the claim reads the slot picked by the ranking  *)
(*    snapshot instead of the slot found after the fresh cursor (breaks    *)
(*    the claim path) -- must violate NoLostJob.                    *)
(*  LeaseOnlyGuard = TRUE: finalization matches (job, run_lease) instead   *)
(*    of the receipt, so after a DLQ retry (run_lease reset) an old worker *)
(*    can finalize the new attempt -- must violate StaleNeverApplied.      *)
(*                                                                         *)
(* Written for both TLC and tla-checker (tla-rs): implications are         *)
(* parenthesised, no INSTANCE, no temporal formulas in configs.  Derived   *)
(* values are bound once with "\E c \in {Cursor} :" because tla-checker    *)
(* re-evaluates LET definitions and operator arguments at every use.      *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS Jobs, Workers, QSlots, CSlots, MaxSeq, MaxRcpt, MaxAttempts, MaxBatch, Outcomes
CONSTANTS StaleSlotClaim, LeaseOnlyGuard
\* Faults = FALSE turns off worker crashes and producer rollbacks (keeps race configs small).
CONSTANT Faults

VARIABLES
  rq,       \* ring Q: [row   : Pos -> [slot, job]     ready_entries (slot -1 = no row),
            \*          tomb  : set of Pos             ready_tombstones (in the row's slot),
            \*          emis  : QS -> max next_lane_seq claim_emissions retained per slot,
            \*          done  : Jobs -> [slot, st]     done_entries (in the ready row's slot),
            \*          cur, gen]                      cursor; gen saturates at QSlots-1
  rc,       \* ring C: [bat : Rcpts -> [job, lease, c, q, closes]   claim_batches receipts
            \*                 (c = ring-C slot, -1 = no row; q = ready_slot; closes = number
            \*                 of retained claim_closures naming the receipt),
            \*          cur, gen]
  plain,    \* [deferred : set of jobs (deferred_jobs), hold : set of jobs (dlq_entries)]
  jl,       \* Jobs -> [lease, attempt]: run_lease of the newest claim, attempt counter
  ctr,      \* [seq, rcpt]: lane sequence and receipt counter (never reset, never reused)
  pending,  \* stalled producer: {} or {[job, seq, slot]}; it holds the enqueue lock
  hint,     \* worker -> slot picked by its lane-ranking snapshot, -1 = no claim in flight
  held,     \* worker -> set of [job, lease, rcpt] the worker believes it runs
  gh        \* ghosts: [committed, retired, claimed (positions ever emitted),
            \*          closedEver (receipts), pruneBad, staleApplied]

vars == <<rq, rc, plain, jl, ctr, pending, hint, held, gh>>

None == 0 - 1
NoJob == "none"
Pos == 1..MaxSeq
Rcpts == 1..MaxRcpt
QS == 0..(QSlots - 1)
CS == 0..(CSlots - 1)
NoRow == [slot |-> None, job |-> NoJob]
NoDone == [slot |-> None, st |-> "none"]
NoBatch == [job |-> NoJob, lease |-> 0, c |-> None, q |-> None, closes |-> 0]

Max(S) == CHOOSE x \in S : \A y \in S : y <= x
Min(S) == CHOOSE x \in S : \A y \in S : x <= y

----------------------------------------------------------------------------
(* Derived views *)

\* Claim cursor C(L): one backward probe per partition of claim_emissions (3.2 step 2).
Cursor == Max({rq.emis[s] : s \in QS})

\* Committed, non-tombstoned rows at or above cursor c: the claimable positions.
UnspentAt(c) == {p \in Pos : rq.row[p].slot # None /\ p \notin rq.tomb /\ p >= c}

Open(r) == rc.bat[r].c # None /\ rc.bat[r].closes = 0
OpenRcpts == {r \in Rcpts : Open(r)}

QSlotNonEmpty(s) ==
  \/ \E p \in Pos : rq.row[p].slot = s
  \/ rq.emis[s] # 0
  \/ \E j \in Jobs : rq.done[j].slot = s

CSlotNonEmpty(s) == \E r \in Rcpts : rc.bat[r].c = s

\* Families of section 1 ("no lost work"), given the unspent positions u.
InReady(j, u) == \E p \in u : rq.row[p].job = j
InAttempt(j) == \E r \in Rcpts : Open(r) /\ rc.bat[r].job = j
InTerminal(j) == rq.done[j].slot # None

FamilyCount(j, u) ==
    (IF InReady(j, u) THEN 1 ELSE 0) + (IF InAttempt(j) THEN 1 ELSE 0)
  + (IF j \in plain.deferred THEN 1 ELSE 0) + (IF InTerminal(j) THEN 1 ELSE 0)
  + (IF j \in plain.hold THEN 1 ELSE 0)

\* Semantic liveness of a slot, from ghosts, independent of the prune gates.
QSlotLive(s) ==
  \/ \E p \in Pos : rq.row[p].slot = s /\ p \notin gh.claimed /\ p \notin rq.tomb
  \/ \E r \in Rcpts : rc.bat[r].q = s /\ r \notin gh.closedEver
CSlotLive(s) == \E r \in Rcpts : rc.bat[r].c = s /\ r \notin gh.closedEver

----------------------------------------------------------------------------
Init ==
  /\ rq = [row |-> [p \in Pos |-> NoRow], tomb |-> {}, emis |-> [s \in QS |-> 0],
           done |-> [j \in Jobs |-> NoDone], cur |-> 0, gen |-> 0]
  /\ rc = [bat |-> [r \in Rcpts |-> NoBatch], cur |-> 0, gen |-> 0]
  /\ plain = [deferred |-> {}, hold |-> {}]
  /\ jl = [j \in Jobs |-> [lease |-> 0, attempt |-> 0]]
  /\ ctr = [seq |-> 1, rcpt |-> 1]
  /\ pending = {}
  /\ hint = [w \in Workers |-> None]
  /\ held = [w \in Workers |-> {}]
  /\ gh = [committed |-> {}, retired |-> {}, claimed |-> {}, closedEver |-> {},
           pruneBad |-> FALSE, staleApplied |-> FALSE]

----------------------------------------------------------------------------
(* Enqueue (3.1).  Begin: take the enqueue lock, reserve a position, read  *)
(* the ring-Q cursor.  Commit: the row lands in the slot that was read,    *)
(* which may by now be sealed, pruned or reopened.  Abort leaves a gap.    *)

EnqueueBegin(j) ==
  /\ j \notin gh.committed /\ j \notin gh.retired
  /\ pending = {}
  /\ ctr.seq <= MaxSeq
  /\ pending' = {[job |-> j, seq |-> ctr.seq, slot |-> rq.cur]}
  /\ ctr' = [ctr EXCEPT !.seq = @ + 1]
  /\ UNCHANGED <<rq, rc, plain, jl, hint, held, gh>>

EnqueueCommit ==
  /\ \E p \in pending :
       /\ rq' = [rq EXCEPT !.row[p.seq] = [slot |-> p.slot, job |-> p.job]]
       /\ gh' = [gh EXCEPT !.committed = @ \cup {p.job}]
  /\ pending' = {}
  /\ UNCHANGED <<rc, plain, jl, ctr, hint, held>>

EnqueueAbort ==
  /\ pending # {}
  /\ pending' = {}
  /\ UNCHANGED <<rq, rc, plain, jl, ctr, hint, held, gh>>

\* The ring-Q record after appending job j at the next position in the current slot
\* (enqueue steps 3-6 without a stall: promotion, DLQ retry, trace replay).
Appended(j) == [rq EXCEPT !.row[ctr.seq] = [slot |-> rq.cur, job |-> j]]
CanAppend == pending = {} /\ ctr.seq <= MaxSeq

EnqueueAtomic(j) ==
  /\ j \notin gh.committed /\ j \notin gh.retired
  /\ CanAppend
  /\ rq' = Appended(j)
  /\ ctr' = [ctr EXCEPT !.seq = @ + 1]
  /\ gh' = [gh EXCEPT !.committed = @ \cup {j}]
  /\ UNCHANGED <<rc, plain, jl, pending, hint, held>>

\* An insert with a future run_at: the job goes to deferred_jobs and takes no lane lock.
EnqueueDeferred(j) ==
  /\ j \notin gh.committed /\ j \notin gh.retired
  /\ \A p \in pending : p.job # j
  /\ plain' = [plain EXCEPT !.deferred = @ \cup {j}]
  /\ gh' = [gh EXCEPT !.committed = @ \cup {j}]
  /\ UNCHANGED <<rq, rc, jl, ctr, pending, hint, held>>

----------------------------------------------------------------------------
(* Claim (3.2).  u is the set of unspent positions in the current state.  *)

HeadSlot(u) == rq.row[Min(u)].slot

\* Step 1: rank on a snapshot and remember the head's slot.  No lock yet.
ClaimBegin(w, u) ==
  /\ hint[w] = None
  /\ u # {}
  /\ hint' = [hint EXCEPT ![w] = HeadSlot(u)]
  /\ UNCHANGED <<rq, rc, plain, jl, ctr, pending, held, gh>>

\* Step 3: the lowest lim unspent rows of slot s (lim = max_batch of this claim).
ClaimSel(s, u, lim) ==
  LET cand == {p \in u : rq.row[p].slot = s}
  IN {p \in cand : Cardinality({q \in cand : q < p}) < lim}

\* Step 4 for worker w: open one receipt per selected row in the current ring-C slot,
\* emit into slot s with next_lane_seq = max(selected) + 1.
ClaimWith(w, s, sel) ==
  LET RcptOf(p) == ctr.rcpt + Cardinality({q \in sel : q < p})
      JobOf(r) == rq.row[CHOOSE p \in sel : RcptOf(p) = r].job
      selJobs == {rq.row[p].job : p \in sel}
      newR == {RcptOf(p) : p \in sel}
      nx == Max(sel) + 1
  IN
  /\ ctr.rcpt + Cardinality(sel) <= MaxRcpt + 1
  /\ rq' = [rq EXCEPT !.emis[s] = IF nx > @ THEN nx ELSE @]
  /\ rc' = [rc EXCEPT !.bat = [r \in Rcpts |->
              IF r \in newR
                THEN [job |-> JobOf(r), lease |-> jl[JobOf(r)].lease + 1, c |-> rc.cur,
                      q |-> s, closes |-> 0]
                ELSE rc.bat[r]]]
  /\ jl' = [j \in Jobs |-> IF j \in selJobs
                             THEN [lease |-> jl[j].lease + 1, attempt |-> jl[j].attempt + 1]
                             ELSE jl[j]]
  /\ ctr' = [ctr EXCEPT !.rcpt = @ + Cardinality(sel)]
  /\ held' = [held EXCEPT ![w] = @ \cup
                {[job |-> rq.row[p].job, lease |-> jl[rq.row[p].job].lease + 1,
                  rcpt |-> RcptOf(p)] : p \in sel}]
  /\ gh' = [gh EXCEPT !.claimed = @ \cup sel]
  /\ hint' = [hint EXCEPT ![w] = None]
  /\ UNCHANGED <<plain, pending>>

\* The slot read: found after the fresh cursor (correct) or the ranking's (Broken).
ClaimSlot(w, u) == IF StaleSlotClaim THEN hint[w] ELSE HeadSlot(u)

\* A claim that finds nothing to read (a cancel or a stale ranking) returns nothing.
ClaimNothing(w) ==
  /\ hint' = [hint EXCEPT ![w] = None]
  /\ UNCHANGED <<rq, rc, plain, jl, ctr, pending, held, gh>>

\* Steps 2-4 under the lane lock (taken SKIP LOCKED, held to commit).
ClaimCommit(w, u) ==
  /\ hint[w] # None
  /\ IF u = {} THEN ClaimNothing(w)
     ELSE \E sel \in {ClaimSel(ClaimSlot(w, u), u, MaxBatch)} :
            IF sel = {} THEN ClaimNothing(w) ELSE ClaimWith(w, ClaimSlot(w, u), sel)

\* A whole claim transaction on a fresh snapshot with max_batch lim (trace replay).
ClaimAtomic(w, u, lim) ==
  /\ hint[w] = None
  /\ u # {}
  /\ ClaimWith(w, HeadSlot(u), ClaimSel(HeadSlot(u), u, lim))

----------------------------------------------------------------------------
(* Closing an attempt: finalization (3.4) and rescue (3.6). *)

Dest(o, j) == IF o = "retry" /\ jl[j].attempt >= MaxAttempts THEN "dlq" ELSE o

\* Close receipt r with destination d in one transaction: the closure, plus the
\* done row (in the ready row's slot), the deferred row or the hold row.
Close(r, d) ==
  LET j == rc.bat[r].job IN
  /\ rc' = [rc EXCEPT !.bat[r].closes = @ + 1]
  /\ rq' = IF d \in {"completed", "cancelled", "failed"}
             THEN [rq EXCEPT !.done[j] = [slot |-> rc.bat[r].q, st |-> d]]
             ELSE rq
  /\ plain' = [deferred |-> IF d \in {"retry", "snooze"} THEN plain.deferred \cup {j}
                                                        ELSE plain.deferred,
               hold |-> IF d = "dlq" THEN plain.hold \cup {j} ELSE plain.hold]

\* Receipts the guard accepts for the worker's attempt a.
GuardMatches(a) ==
  IF LeaseOnlyGuard
    THEN {r \in Rcpts : Open(r) /\ rc.bat[r].job = a.job /\ rc.bat[r].lease = a.lease}
    ELSE {r \in Rcpts : r = a.rcpt /\ Open(r) /\ rc.bat[r].job = a.job /\
                        rc.bat[r].lease = a.lease}

Finalize(w, a, o) ==
  /\ a \in held[w]
  /\ held' = [held EXCEPT ![w] = @ \ {a}]
  /\ \E m \in {GuardMatches(a)} :
       IF m = {}
         THEN \* stale: changes nothing and is reported to the worker
              UNCHANGED <<rq, rc, plain, jl, ctr, pending, hint, gh>>
         ELSE \E r \in m :
              /\ Close(r, Dest(o, a.job))
              /\ gh' = [gh EXCEPT !.closedEver = @ \cup {r},
                                  !.staleApplied = (@ \/ a.rcpt \in gh.closedEver \/
                                                    r # a.rcpt)]
              \* A snooze hands the attempt back uncounted.
              /\ jl' = IF o = "snooze" THEN [jl EXCEPT ![a.job].attempt = @ - 1] ELSE jl
              /\ UNCHANGED <<ctr, pending, hint>>

\* Rescue (stale heartbeat or deadline).  Time is abstracted away, so any open attempt
\* may become a candidate.  The worker keeps its now-stale snapshot.
Rescue(r) ==
  /\ Open(r)
  /\ Close(r, Dest("retry", rc.bat[r].job))
  /\ gh' = [gh EXCEPT !.closedEver = @ \cup {r}]
  /\ UNCHANGED <<jl, ctr, pending, hint, held>>

\* Rescue of a held (prefetched) attempt whose start was never recorded: its handler never
\* ran, so the job goes back uncounted, like a snooze (rescue_unstarted).  Prefetch and start
\* records are not modelled, so any open attempt may be one.  The rows written are those of a
\* snooze, so configs without snooze leave this action out.
RescueRelease(r) ==
  /\ Open(r)
  /\ Close(r, "snooze")
  /\ jl' = [jl EXCEPT ![rc.bat[r].job].attempt = @ - 1]
  /\ gh' = [gh EXCEPT !.closedEver = @ \cup {r}]
  /\ UNCHANGED <<ctr, pending, hint, held>>

\* Admin cancel of a running job (awa.cancel_job): its open attempt closes as cancelled.
\* The worker keeps its now-stale snapshot; its outcome will change nothing.
CancelRunning(r) ==
  /\ Open(r)
  /\ Close(r, "cancelled")
  /\ gh' = [gh EXCEPT !.closedEver = @ \cup {r}]
  /\ UNCHANGED <<jl, ctr, pending, hint, held>>

\* A worker process dies: its in-flight claim rolls back, its attempts stay open.
Crash(w) ==
  /\ (held[w] # {} \/ hint[w] # None)
  /\ held' = [held EXCEPT ![w] = {}]
  /\ hint' = [hint EXCEPT ![w] = None]
  /\ UNCHANGED <<rq, rc, plain, jl, ctr, pending, gh>>

----------------------------------------------------------------------------
(* Promotion (3.5), ready cancel (3.7), DLQ (3.8). *)

Promote(j) ==
  /\ j \in plain.deferred
  /\ CanAppend
  /\ rq' = Appended(j)
  /\ ctr' = [ctr EXCEPT !.seq = @ + 1]
  /\ plain' = [plain EXCEPT !.deferred = @ \ {j}]
  /\ UNCHANGED <<rc, jl, pending, hint, held, gh>>

\* Takes the lane claim lock (waiting), rechecks lane_seq >= C and no tombstone, then
\* tombstones the row and writes a wide cancelled row into the row's slot.
CancelReady(j, u) ==
  /\ \E p \in u :
       /\ rq.row[p].job = j
       /\ rq' = [rq EXCEPT !.tomb = @ \cup {p},
                           !.done[j] = [slot |-> rq.row[p].slot, st |-> "cancelled"]]
  /\ UNCHANGED <<rc, plain, jl, ctr, pending, hint, held, gh>>

\* Move a failed job from done_entries into the DLQ.
DlqMove(j) ==
  /\ rq.done[j].st = "failed"
  /\ rq' = [rq EXCEPT !.done[j] = NoDone]
  /\ plain' = [plain EXCEPT !.hold = @ \cup {j}]
  /\ UNCHANGED <<rc, jl, ctr, pending, hint, held, gh>>

\* Retry from the DLQ: attempt = 0, run_lease = 0, a new ready row in the current slot.
DlqRetry(j) ==
  /\ j \in plain.hold
  /\ CanAppend
  /\ rq' = Appended(j)
  /\ ctr' = [ctr EXCEPT !.seq = @ + 1]
  /\ plain' = [plain EXCEPT !.hold = @ \ {j}]
  /\ jl' = [jl EXCEPT ![j] = [lease |-> 0, attempt |-> 0]]
  /\ UNCHANGED <<rc, pending, hint, held, gh>>

DlqPurge(j) ==
  /\ j \in plain.hold
  /\ plain' = [plain EXCEPT !.hold = @ \ {j}]
  /\ gh' = [gh EXCEPT !.retired = @ \cup {j}]
  /\ UNCHANGED <<rq, rc, jl, ctr, pending, hint, held>>

----------------------------------------------------------------------------
(* Rotation and prune (3.9).  Rotate and prune of one ring share the ring  *)
(* advisory lock, so each is one atomic step.  Gates cover the whole slot  *)
(* and never look at generations.                                          *)

RotateQ ==
  LET nx == (rq.cur + 1) % QSlots IN
  /\ ~QSlotNonEmpty(nx)
  /\ \E s \in QS : QSlotNonEmpty(s)                  \* else skipped_idle
  /\ rq' = [rq EXCEPT !.cur = nx, !.gen = IF @ < QSlots - 1 THEN @ + 1 ELSE @]
  /\ UNCHANGED <<rc, plain, jl, ctr, pending, hint, held, gh>>

\* k = min(gen+1, N); the target is slot (slot - (k-1)) mod N; nothing while k < 2.
QTarget == (rq.cur + QSlots - rq.gen) % QSlots

PruneQ(c) ==
  LET t == QTarget IN
  /\ rq.gen >= 1
  /\ QSlotNonEmpty(t)                                \* else already_pruned
  \* gate (a): claimed = closed over the receipts whose ready_slot is t
  /\ Cardinality({r \in Rcpts : rc.bat[r].q = t})
       = Cardinality({r \in Rcpts : rc.bat[r].q = t /\ rc.bat[r].closes > 0})
  \* gate (b): no non-tombstoned row of the slot at or above the cursor
  /\ ~(\E p \in Pos : rq.row[p].slot = t /\ p >= c /\ p \notin rq.tomb)
  /\ gh' = [gh EXCEPT !.pruneBad = (@ \/ QSlotLive(t)),
                      !.retired = @ \cup {j \in Jobs : rq.done[j].slot = t}]
  /\ rq' = [rq EXCEPT
              !.row = [p \in Pos |-> IF rq.row[p].slot = t THEN NoRow ELSE rq.row[p]],
              !.tomb = {p \in @ : rq.row[p].slot # t},
              !.emis[t] = 0,
              !.done = [j \in Jobs |-> IF rq.done[j].slot = t THEN NoDone ELSE rq.done[j]]]
  /\ UNCHANGED <<rc, plain, jl, ctr, pending, hint, held>>

RotateC ==
  LET nx == (rc.cur + 1) % CSlots IN
  /\ ~CSlotNonEmpty(nx)
  /\ \E s \in CS : CSlotNonEmpty(s)
  /\ rc' = [rc EXCEPT !.cur = nx, !.gen = IF @ < CSlots - 1 THEN @ + 1 ELSE @]
  /\ UNCHANGED <<rq, plain, jl, ctr, pending, hint, held, gh>>

CTarget == (rc.cur + CSlots - rc.gen) % CSlots

PruneC ==
  LET t == CTarget IN
  /\ rc.gen >= 1
  /\ CSlotNonEmpty(t)
  \* the count check within the slot: every receipt stored there is closed
  /\ Cardinality({r \in Rcpts : rc.bat[r].c = t})
       = Cardinality({r \in Rcpts : rc.bat[r].c = t /\ rc.bat[r].closes > 0})
  /\ gh' = [gh EXCEPT !.pruneBad = (@ \/ CSlotLive(t))]
  /\ rc' = [rc EXCEPT !.bat = [r \in Rcpts |-> IF rc.bat[r].c = t THEN NoBatch
                                               ELSE rc.bat[r]]]
  /\ UNCHANGED <<rq, plain, jl, ctr, pending, hint, held>>

----------------------------------------------------------------------------
NextWith(c, u) ==
  \/ \E j \in Jobs : EnqueueBegin(j)
  \/ \E j \in Jobs : EnqueueDeferred(j)
  \/ EnqueueCommit
  \/ (Faults /\ EnqueueAbort)
  \/ \E w \in Workers : ClaimBegin(w, u)
  \/ \E w \in Workers : ClaimCommit(w, u)
  \/ \E w \in Workers : \E a \in held[w] : \E o \in Outcomes : Finalize(w, a, o)
  \/ \E r \in Rcpts : Rescue(r)
  \/ ("snooze" \in Outcomes /\ \E r \in Rcpts : RescueRelease(r))
  \/ ("cancelled" \in Outcomes /\ \E r \in Rcpts : CancelRunning(r))
  \/ (Faults /\ \E w \in Workers : Crash(w))
  \/ \E j \in plain.deferred : Promote(j)
  \/ \E j \in Jobs : CancelReady(j, u)
  \/ \E j \in Jobs : DlqMove(j)
  \/ \E j \in plain.hold : DlqRetry(j)
  \/ \E j \in plain.hold : DlqPurge(j)
  \/ RotateQ
  \/ PruneQ(c)
  \/ RotateC
  \/ PruneC

Next == \E c \in {Cursor} : \E u \in {UnspentAt(c)} : NextWith(c, u)

Spec == Init /\ [][Next]_vars

----------------------------------------------------------------------------
(* Invariants (docs/storage.md). *)

TypeOK ==
  /\ rq.cur \in QS /\ rc.cur \in CS /\ rq.gen \in QS /\ rc.gen \in CS
  /\ \A p \in Pos : rq.row[p].slot \in QS \cup {None}
  /\ \A r \in Rcpts : rc.bat[r].c \in CS \cup {None} /\ rc.bat[r].q \in QS \cup {None}
  /\ Cardinality(pending) <= 1

\* 5.5: every committed, non-purged job is in exactly one family.
NoLostJob ==
  \E u \in {UnspentAt(Cursor)} : \A j \in gh.committed \ gh.retired : FamilyCount(j, u) = 1

\* 5.1: at most one open receipt per job, and it carries the newest run_lease.
SingleLiveAttempt ==
  \A r1, r2 \in OpenRcpts :
    /\ ((rc.bat[r1].job = rc.bat[r2].job) => (r1 = r2))
    /\ rc.bat[r1].lease = jl[rc.bat[r1].job].lease

\* 5.2 / 5.3: a finalization of a closed attempt never changes storage.
StaleNeverApplied == ~gh.staleApplied

\* 5.4: no receipt lies in two closures.
CloseAtMostOnce == \A r \in Rcpts : rc.bat[r].closes <= 1

\* 5.6: prune never truncates a row still pending or an attempt still open.
PrunedSegmentsAreEmpty == ~gh.pruneBad

\* 5.7: below the cursor every non-tombstoned row was claimed; at or above, none was.
CursorSafety ==
  \E c \in {Cursor} :
    \A p \in Pos :
      ((rq.row[p].slot # None /\ p \notin rq.tomb) => ((p < c) <=> (p \in gh.claimed)))

\* 5.11: a held job has no open attempt, ready row, deferred row or terminal row.
HoldIsolated ==
  \E u \in {UnspentAt(Cursor)} :
    \A j \in plain.hold :
      ~InReady(j, u) /\ ~InAttempt(j) /\ j \notin plain.deferred /\ ~InTerminal(j)

\* A terminal row and an open attempt keep the job body in the same ring-Q slot.
TerminalKeepsBody ==
  \A j \in Jobs :
    ((rq.done[j].slot # None)
       => (\E p \in Pos : rq.row[p].job = j /\ rq.row[p].slot = rq.done[j].slot))
OpenAttemptKeepsBody ==
  \A r \in OpenRcpts :
    \E p \in Pos : rq.row[p].job = rc.bat[r].job /\ rq.row[p].slot = rc.bat[r].q

\* 5.12: each ring has one current slot; the prune target is never the current slot.
RingShape ==
  /\ ((rq.gen >= 1) => (QTarget # rq.cur))
  /\ ((rc.gen >= 1) => (CTarget # rc.cur))
----------------------------------------------------------------------------
(* Reachability probes.  Each one is EXPECTED TO BE VIOLATED: the runner    *)
(* checks a good config against one probe at a time to show that the       *)
(* config really reaches the situation the invariants are meant to cover.  *)

\* A worker still holds an attempt that rescue closed, while a later claim of the same
\* job carries the same run_lease (a DLQ retry reset it): only the receipt tells them apart.
ProbeLeaseReused ==
  ~(\E w \in Workers : \E a \in held[w] :
      /\ a.rcpt \in gh.closedEver
      /\ \E r \in OpenRcpts : rc.bat[r].job = a.job /\ rc.bat[r].lease = a.lease)

\* A stalled producer's row is about to land in a slot that is no longer current.
ProbeLateWrite == ~(\E p \in pending : p.slot # rq.cur)

\* A slot was pruned and reopened: a newer position sits in an older slot number.
ProbeSlotReused ==
  ~(\E p, q \in Pos : p < q /\ rq.row[p].slot # None /\ rq.row[q].slot # None /\
                     rq.row[q].slot < rq.row[p].slot)

\* A claim in flight whose ranking picked a slot other than the fresh head's slot.
ProbeStaleRanking ==
  ~(\E w \in Workers :
      \E u \in {UnspentAt(Cursor)} : hint[w] # None /\ u # {} /\ hint[w] # HeadSlot(u))
=============================================================================
