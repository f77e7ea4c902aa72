--------------------------- MODULE AwaFlowRelease ---------------------------
(***************************************************************************)
(* Release of a flow node by its parents (docs/flows.md; the SQL is       *)
(* flow_propagate).  One child waits on the parents Parents, each on its  *)
(* own gate stripe.  A parent attempt either ends in a retry (no hook) or *)
(* ends for good in one transaction that, when Locking:                    *)
(*   Begin   decrements its stripe (UPDATE ... RETURNING; uncommitted),    *)
(*   Lock    takes the child's node row lock (SELECT ... FOR UPDATE),      *)
(*   Check   in a fresh statement, sees every committed decrement plus its *)
(*           own and decides: release (all stripes zero), fail (its        *)
(*           parent failed, policy fail) or nothing; only a waiting child  *)
(*           is decided,                                                   *)
(*   Commit  makes it all visible and drops the lock.                      *)
(* Any transaction may crash before Commit: it rolls back and the parent   *)
(* stays running (rescue runs it again).  An operator may cancel the flow  *)
(* (one transaction under the child's lock).                               *)
(*                                                                         *)
(* Locking = FALSE is release by read-then-write: Begin reads how many     *)
(* parents have completed (committed) and Check releases when that count  *)
(* plus itself is all of them, without the lock or a fresh read.  Two      *)
(* parents finishing together both read the other as unfinished, and the   *)
(* child is never released: ReleasedExactlyOnce must fail.                 *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS Parents, MaxAttempts, Locking

VARIABLES
  pstate,   \* parent -> "running" | "completed" | "failed" (committed)
  attempts, \* parent -> attempts used
  tx,       \* parent -> "none" | "begun" | "locked" | "checked": its final transaction
  outcome,  \* parent -> "completed" | "failed": what that transaction commits
  decision, \* parent -> "none" | "released" | "failed": what it will write to the child
  seen,     \* parent -> completed parents its Begin read (read-then-write only)
  lock,     \* holder of the child's node row lock: a parent, "admin" or "none"
  child,    \* "waiting" | "released" | "failed" | "cancelled" (committed)
  releases, \* ghost: committed releases of the child
  started   \* the child's job has started

vars == <<pstate, attempts, tx, outcome, decision, seen, lock, child, releases, started>>

N == Cardinality(Parents)

Completed == {q \in Parents : pstate[q] = "completed"}

\* Stripes at zero as a transaction of p sees them: committed decrements plus its own.
AllZeroFor(p) == \A q \in Parents : pstate[q] = "completed" \/ q = p

Init ==
  /\ pstate = [p \in Parents |-> "running"]
  /\ attempts = [p \in Parents |-> 1]
  /\ tx = [p \in Parents |-> "none"]
  /\ outcome = [p \in Parents |-> "completed"]
  /\ decision = [p \in Parents |-> "none"]
  /\ seen = [p \in Parents |-> 0]
  /\ lock = "none"
  /\ child = "waiting"
  /\ releases = 0
  /\ started = FALSE

\* An attempt ends in a retry: no hook runs; the next attempt starts.
Retry(p) ==
  /\ pstate[p] = "running" /\ tx[p] = "none" /\ attempts[p] < MaxAttempts
  /\ attempts' = [attempts EXCEPT ![p] = attempts[p] + 1]
  /\ UNCHANGED <<pstate, tx, outcome, decision, seen, lock, child, releases, started>>

\* The attempt ends for good: the final transaction starts (and decrements its stripe).
Begin(p, o) ==
  /\ pstate[p] = "running" /\ tx[p] = "none"
  /\ tx' = [tx EXCEPT ![p] = "begun"]
  /\ outcome' = [outcome EXCEPT ![p] = o]
  /\ seen' = [seen EXCEPT ![p] = Cardinality(Completed)]
  /\ UNCHANGED <<pstate, attempts, decision, lock, child, releases, started>>

Lock(p) ==
  /\ Locking /\ tx[p] = "begun" /\ lock = "none"
  /\ lock' = p
  /\ tx' = [tx EXCEPT ![p] = "locked"]
  /\ UNCHANGED <<pstate, attempts, outcome, decision, seen, child, releases, started>>

Decide(p) ==
  IF child # "waiting" THEN "none"
  ELSE IF outcome[p] = "failed" THEN "failed"
  ELSE IF Locking THEN (IF AllZeroFor(p) THEN "released" ELSE "none")
  ELSE (IF seen[p] + 1 = N THEN "released" ELSE "none")

Check(p) ==
  /\ tx[p] = IF Locking THEN "locked" ELSE "begun"
  /\ decision' = [decision EXCEPT ![p] = Decide(p)]
  /\ tx' = [tx EXCEPT ![p] = "checked"]
  /\ UNCHANGED <<pstate, attempts, outcome, seen, lock, child, releases, started>>

Commit(p) ==
  /\ tx[p] = "checked"
  /\ pstate' = [pstate EXCEPT ![p] = outcome[p]]
  /\ child' = IF decision[p] = "none" THEN child ELSE decision[p]
  /\ releases' = IF decision[p] = "released" THEN releases + 1 ELSE releases
  /\ lock' = IF lock = p THEN "none" ELSE lock
  /\ tx' = [tx EXCEPT ![p] = "none"]
  /\ decision' = [decision EXCEPT ![p] = "none"]
  /\ UNCHANGED <<attempts, outcome, seen, started>>

\* The finalizer dies before its commit: everything it wrote rolls back.
Crash(p) ==
  /\ tx[p] # "none"
  /\ tx' = [tx EXCEPT ![p] = "none"]
  /\ decision' = [decision EXCEPT ![p] = "none"]
  /\ lock' = IF lock = p THEN "none" ELSE lock
  /\ UNCHANGED <<pstate, attempts, outcome, seen, child, releases, started>>

\* cancelFlow: one transaction under the child's lock; a waiting child is cancelled.
CancelFlow ==
  /\ lock = "none" /\ child = "waiting"
  /\ child' = "cancelled"
  /\ UNCHANGED <<pstate, attempts, tx, outcome, decision, seen, lock, releases, started>>

Start ==
  /\ child = "released" /\ ~started
  /\ started' = TRUE
  /\ UNCHANGED <<pstate, attempts, tx, outcome, decision, seen, lock, child, releases>>

Next ==
  \/ CancelFlow \/ Start
  \/ \E p \in Parents :
       \/ Retry(p) \/ Lock(p) \/ Check(p) \/ Commit(p) \/ Crash(p)
       \/ \E o \in {"completed", "failed"} : Begin(p, o)

Spec == Init /\ [][Next]_vars

TypeOK ==
  /\ \A p \in Parents : pstate[p] \in {"running", "completed", "failed"}
  /\ \A p \in Parents : tx[p] \in {"none", "begun", "locked", "checked"}
  /\ child \in {"waiting", "released", "failed", "cancelled"}
  /\ releases \in 0..N

\* A child never starts before all its parents completed.
NoEarlyStart == started => Completed = Parents

\* Never released twice.
AtMostOnce == releases <= 1

\* Once every parent committed its completion and no finalizer is in flight, the child was
\* released exactly once, unless the flow was cancelled first.
ReleasedExactlyOnce ==
  ((Completed = Parents) /\ (\A p \in Parents : tx[p] = "none"))
    => (releases = 1 \/ child = "cancelled")

\* A released child had every parent completed (so a failed parent never releases it).
ReleaseOnlyAfterAll == child = "released" => Completed = Parents

\* Anti-vacuity: two parents' final transactions are in flight at once.
ProbeConcurrent == ~(\E a, b \in Parents : a # b /\ tx[a] = "checked" /\ tx[b] # "none")
=============================================================================
