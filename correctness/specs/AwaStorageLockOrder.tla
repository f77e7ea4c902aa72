---------------------------- MODULE AwaStorageLockOrder ----------------------------
(***************************************************************************)
(* Lock ordering of the Awa storage engine (docs/storage.md).         *)
(*                                                                         *)
(* Each transaction runs a plan: a sequence of lock steps taken in order   *)
(* and held to commit.  A step names a resource, a mode and how it is     *)
(* requested:                                                              *)
(*   "wait"     blocks until compatible;                                   *)
(*   "try"      pg_try_advisory_xact_lock on a candidate: skip it if busy; *)
(*   "tryend"   try lock / SKIP LOCKED whose failure ends the transaction  *)
(*              (rotate/prune report skipped_busy, a claim finds nothing); *)
(*   "timeout"  LOCK ... with lock_timeout: blocks, but may give up and    *)
(*              roll back at any moment while blocked.                     *)
(* Modes: "S" (AccessShare / RowExclusive partition DML, mutually          *)
(* compatible) and "X" (row locks, advisory locks, ACCESS EXCLUSIVE).      *)
(*                                                                         *)
(* Resources, by level of the global order:                                *)
(*   1 <<"ring", R>>       ring advisory lock (rotate, prune)              *)
(*   2 <<"crs", s>>        claim_ring_slots row (rescue, ring-C prune)     *)
(*   3 <<"uq", k>>         job_unique_claims key; <<"def", j>> deferred    *)
(*                         row; <<"dlq", j>> dlq row                        *)
(*   4 <<"enq", l>>        lane enqueue advisory lock (held to commit)     *)
(*     <<"lane", l>>       lanes row FOR UPDATE (claim lock)              *)
(*   5 <<"att", a>>        per-attempt advisory lock                       *)
(*   6 <<"qpart", s>>, <<"cpart", s>>  partition DML (S)                   *)
(*   7 the same partitions in ACCESS EXCLUSIVE (prune only, lock_timeout)  *)
(* The permitted exception: finalization and rescue write unique claims    *)
(* after their attempt locks (5 -> 3).                                     *)
(*                                                                         *)
(* Admin operations (src/admin, issue 11) add                              *)
(*   0 <<"qmeta", q>>      queue_meta row (pause, resume, drain), taken    *)
(*                         first: claims and promotion only read it         *)
(* and run as plans of their own: pause / resume alone or followed by a    *)
(* cancel in the caller's transaction; cancel of a ready, deferred or      *)
(* running job (cancel_job); retry of a held job; and the bounded batches  *)
(* of drain, bulk cancel and bulk retry, which take their rows in job order *)
(* (a batch repeats one cancel_job or retry_held per job, so its steps      *)
(* recur: QP S before the next job's row lock is fine, as nothing that     *)
(* holds a row lock waits for a partition in X except prune, which gives   *)
(* up on lock_timeout).                                                     *)
(*                                                                         *)
(* Switches for Broken configs:                                            *)
(*   SortLanes = FALSE        producers take enqueue locks unsorted         *)
(*   SortAttemptLocks = FALSE finalizers take attempt locks unsorted        *)
(*   SortAdminBatches = FALSE bulk cancel / retry batches take their rows   *)
(*                            in different orders                           *)
(*   DrainPausesFirst = FALSE drain cancels a lane's jobs before it pauses  *)
(*                            the queue (queue_meta after the lane lock)    *)
(*                                                                         *)
(* Not modelled: Postgres' lock wait queue (a request queued behind an     *)
(* earlier conflicting waiter); waits are only on holders.                 *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS TxIds, SortLanes, SortAttemptLocks, SortAdminBatches, DrainPausesFirst
\* AllPlans = FALSE keeps one plan per path that writes unique claims, lanes or attempts
\* (for the three-transaction config, which is otherwise too large for tla-checker).
CONSTANT AllPlans

VARIABLES
  plan,    \* tx -> sequence of steps [r, m, k]; <<>> when idle
  pc,      \* tx -> index of the next step (Len(plan) + 1 = ready to commit)
  held     \* tx -> set of [r, m] held until commit or rollback

vars == <<plan, pc, held>>

St(r, m, k) == [r |-> r, m |-> m, k |-> k]
W(r, m) == St(r, m, "wait")

Key == <<"uq", "k">>
Enq(l) == <<"enq", l>>
Lane(l) == <<"lane", l>>
Att(a) == <<"att", a>>
QP(s) == <<"qpart", s>>
CP(s) == <<"cpart", s>>

\* Enqueue (3.1): unique claim first, then the enqueue locks in lane order, then the
\* append into the current partition.
EnqOne(l) == << W(Key, "X"), W(Enq(l), "X"), W(QP(0), "S") >>
EnqTwo(l1, l2) == << W(Enq(l1), "X"), W(Enq(l2), "X"), W(QP(0), "S") >>
EnqPlans ==
  {EnqOne(1), EnqOne(2), EnqTwo(1, 2)} \cup (IF SortLanes THEN {} ELSE {EnqTwo(2, 1)})

\* Claim (3.2): lane row SKIP LOCKED, then partition DML: probes of both ready
\* partitions, the emission insert and the claim_batches insert.
ClaimPlan(l) ==
  << St(Lane(l), "X", "tryend"), W(QP(0), "S"), W(QP(1), "S"), W(CP(0), "S") >>

\* Finalization (3.4): per-attempt locks sorted, unique-claim writes (5 -> 3), then the
\* closure (ring C) and the done row (ring Q).
FinPlan(a1, a2) ==
  << W(Att(a1), "X"), W(Att(a2), "X"), W(Key, "X"), W(CP(0), "S"), W(QP(0), "S") >>
FinPlans == {FinPlan(1, 2)} \cup (IF SortAttemptLocks THEN {} ELSE {FinPlan(2, 1)})

\* Rescue (3.6): the claim_ring_slots row, try-locks on candidates, unique claims,
\* closure and destination.
RescuePlan == << W(<<"crs", 0>>, "X"), St(Att(1), "X", "try"), St(Att(2), "X", "try"),
                 W(Key, "X"), W(CP(0), "S"), W(QP(0), "S") >>

\* Promotion (3.5): due deferred rows SKIP LOCKED, unique claims, enqueue lock, append.
PromotePlan == << St(<<"def", 1>>, "X", "tryend"), W(Key, "X"), W(Enq(1), "X"),
                  W(QP(0), "S") >>

\* DLQ retry (3.8): hold row, unique claim, enqueue lock, append.
DlqRetryPlan == << W(<<"dlq", 1>>, "X"), W(Key, "X"), W(Enq(1), "X"), W(QP(0), "S") >>

\* Ready cancel / move (3.7): waits for the lane claim lock, then tombstone + done row.
CancelPlan == << W(Lane(1), "X"), W(QP(0), "S") >>

\* Rotation (3.9): ring try lock, emptiness probe of the incoming slot.
RotateQPlan == << St(<<"ring", "Q">>, "X", "tryend"), W(QP(1), "S") >>

\* Prune (3.9): ring try lock (+ claim_ring_slots row for ring C), gate reads, then
\* ACCESS EXCLUSIVE on the slot's children with lock_timeout.
PruneQPlan == << St(<<"ring", "Q">>, "X", "tryend"), W(QP(0), "S"),
                 St(QP(0), "X", "timeout") >>
PruneCPlan == << St(<<"ring", "C">>, "X", "tryend"), W(<<"crs", 0>>, "X"), W(CP(0), "S"),
                 St(CP(0), "X", "timeout") >>

\* ---- Admin operations (src/admin) ----
QMeta == <<"qmeta", "q">>
Def(j) == <<"def", j>>
Dlq(j) == <<"dlq", j>>

\* pause / resume: upsert of the queue_meta row; the NOTIFY's queue lock is taken at commit,
\* after every other lock, by every notifier alike, so it closes no cycle and is left out.
PausePlan == << W(QMeta, "X") >>
\* pause(tx, q) then cancel(tx, id) of a ready job in one caller's transaction.
PauseCancelPlan == << W(QMeta, "X"), W(Lane(1), "X"), W(QP(0), "S"), W(Key, "X") >>
\* cancel_job of a deferred job: its row, the done row, then its unique claim.
CancelDeferredSteps(j) == << W(Def(j), "X"), W(QP(0), "S"), W(Key, "X") >>
\* cancel_job of a ready job: the lane's claim lock, tombstone and done row, unique claim.
CancelReadySteps(l) == << W(Lane(l), "X"), W(QP(0), "S"), W(Key, "X") >>
\* cancel_job of a running job goes through finalization (FinPlan's locks for one attempt).
CancelRunningPlan == << W(Att(1), "X"), W(Key, "X"), W(CP(0), "S"), W(QP(0), "S") >>
\* retry_held of one job: hold row, unique claim, enqueue lock, append.
RetrySteps(j) == << W(Dlq(j), "X"), W(Key, "X"), W(Enq(1), "X"), W(QP(0), "S") >>

\* One bounded batch of drain: pause first, then cancel the queue's deferred and ready jobs.
DrainPlan ==
  IF DrainPausesFirst
    THEN << W(QMeta, "X") >> \o CancelDeferredSteps(1) \o CancelReadySteps(1)
    ELSE CancelReadySteps(1) \o << W(QMeta, "X") >> \o CancelDeferredSteps(1)
\* One batch of a bulk cancel / bulk retry by filter: one job after another in job order.
BulkCancelPlan(j1, j2) == CancelDeferredSteps(j1) \o CancelDeferredSteps(j2)
BulkRetryPlan(j1, j2) == RetrySteps(j1) \o RetrySteps(j2)
BulkPlans ==
  {BulkCancelPlan(1, 2), BulkRetryPlan(1, 2)}
    \cup (IF SortAdminBatches THEN {} ELSE {BulkCancelPlan(2, 1), BulkRetryPlan(2, 1)})
AdminPlans ==
  {PausePlan, PauseCancelPlan, CancelDeferredSteps(1), CancelRunningPlan, DrainPlan}
    \cup BulkPlans

Plans ==
  IF AllPlans
    THEN EnqPlans \cup FinPlans \cup {ClaimPlan(1), ClaimPlan(2)}
         \cup {RescuePlan, PromotePlan, DlqRetryPlan, CancelPlan, RotateQPlan, PruneQPlan,
              PruneCPlan}
         \cup AdminPlans
    ELSE {EnqOne(1), ClaimPlan(1), RescuePlan, PromotePlan, CancelPlan, PruneQPlan}
         \cup FinPlans

----------------------------------------------------------------------------
Idle(t) == plan[t] = <<>>
Done(t) == ~Idle(t) /\ pc[t] > Len(plan[t])
NextStep(t) == plan[t][pc[t]]

\* Can t take resource r in mode m, given what the other transactions hold?
Free(t, r, m) ==
  \A u \in TxIds \ {t} : \A h \in held[u] : ((h.r = r) => (h.m = "S" /\ m = "S"))

HasStep(t) == ~Idle(t) /\ pc[t] <= Len(plan[t])
Blocked(t) == HasStep(t) /\ ~Free(t, NextStep(t).r, NextStep(t).m)

\* x waits for y: x's next step is a blocking request that y's locks conflict with.
\* (Parameter names differ from the quantifier names of the callers: tla-checker
\* substitutes arguments by name and mixes up WaitsFor(u, t) when they coincide.)
WaitsFor(x, y) ==
  /\ x # y
  /\ HasStep(x)
  /\ NextStep(x).k \in {"wait", "timeout"}
  /\ \E h \in held[y] :
       h.r = NextStep(x).r /\ ~(h.m = "S" /\ NextStep(x).m = "S")

Finish(t) ==
  /\ plan' = [plan EXCEPT ![t] = <<>>]
  /\ pc' = [pc EXCEPT ![t] = 1]
  /\ held' = [held EXCEPT ![t] = {}]

----------------------------------------------------------------------------
Init ==
  /\ plan = [t \in TxIds |-> <<>>]
  /\ pc = [t \in TxIds |-> 1]
  /\ held = [t \in TxIds |-> {}]

Start(t, p) ==
  /\ Idle(t)
  /\ plan' = [plan EXCEPT ![t] = p]
  /\ pc' = [pc EXCEPT ![t] = 1]
  /\ UNCHANGED held

Acquire(t) ==
  /\ HasStep(t)
  /\ Free(t, NextStep(t).r, NextStep(t).m)
  /\ held' = [held EXCEPT ![t] = @ \cup {[r |-> NextStep(t).r, m |-> NextStep(t).m]}]
  /\ pc' = [pc EXCEPT ![t] = @ + 1]
  /\ UNCHANGED plan

\* A try lock on a busy candidate: skip the candidate and go on.
TrySkip(t) ==
  /\ Blocked(t)
  /\ NextStep(t).k = "try"
  /\ pc' = [pc EXCEPT ![t] = @ + 1]
  /\ UNCHANGED <<plan, held>>

\* A try lock or SKIP LOCKED that ends the transaction, or a lock_timeout expiring.
GiveUp(t) ==
  /\ Blocked(t)
  /\ NextStep(t).k \in {"tryend", "timeout"}
  /\ Finish(t)

Commit(t) ==
  /\ Done(t)
  /\ Finish(t)

Next ==
  \E t \in TxIds :
    \/ \E p \in Plans : Start(t, p)
    \/ Acquire(t)
    \/ TrySkip(t)
    \/ GiveUp(t)
    \/ Commit(t)

Spec == Init /\ [][Next]_vars

----------------------------------------------------------------------------
(* Invariants *)

TypeOK ==
  /\ \A t \in TxIds : pc[t] \in 1..(Len(plan[t]) + 1)
  /\ \A t \in TxIds : \A h \in held[t] : h.m \in {"S", "X"}

\* No two transactions hold conflicting modes on one resource.
LockCompatibility ==
  \A t, u \in TxIds :
    ((t # u) => (\A h1 \in held[t] : \A h2 \in held[u] :
                   ((h1.r = h2.r) => (h1.m = "S" /\ h2.m = "S"))))

HeldOnlyByRunningTxs == \A t \in TxIds : (Idle(t) => (held[t] = {}))

\* The waits-for graph has no cycle (lengths 2 and 3; enough for up to 3 transactions).
NoDeadlock ==
  /\ ~(\E t, u \in TxIds : WaitsFor(t, u) /\ WaitsFor(u, t))
  /\ ~(\E t, u, v \in TxIds : WaitsFor(t, u) /\ WaitsFor(u, v) /\ WaitsFor(v, t))

\* Some transaction can always move (start, acquire, skip, give up or commit).
NoGlobalStall ==
  \E t \in TxIds :
    Idle(t) \/ Done(t) \/ (HasStep(t) /\ (~Blocked(t) \/ NextStep(t).k # "wait"))
=============================================================================
