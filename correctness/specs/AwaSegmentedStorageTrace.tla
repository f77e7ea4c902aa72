------------------------- MODULE AwaSegmentedStorageTrace -------------------------
(***************************************************************************)
(* Trace acceptance for the segment lifecycle spec (correctness/README.md). *)
(*                                                                         *)
(* Trace is a constant sequence of abstract events recorded from the real  *)
(* engine, in commit order.  At each step only the base action named by    *)
(* the next event is enabled, with the event's parameters; every base      *)
(* invariant is checked along the way.  Each event determines its         *)
(* successor, so the behaviour is a single path:                           *)
(*   - a trace that is fully consumed violates TraceIncomplete: ACCEPTED;  *)
(*   - a trace with an impossible step leaves no successor before its end: *)
(*     the checker reports a deadlock: REJECTED;                           *)
(*   - a base invariant violated on the way is a bug in the engine or in   *)
(*     the spec: REJECTED.                                                 *)
(*                                                                         *)
(* Every event is a record with all of these fields (unused ones default): *)
(*   a      action: "enqueue" "schedule" "claim" "finalize" "rescue"      *)
(*          "promote"                                                      *)
(*          "cancelReady" "dlqMove" "dlqRetry" "dlqPurge" "rotate" "prune" *)
(*          "crash"                                                        *)
(*   j      job id (string)                  w     worker id (string)      *)
(*   r      receipt ordinal (1, 2, ... in order of first claim)            *)
(*   o      finalize outcome: "completed" "cancelled" "failed" "retry"     *)
(*          "snooze" "dlq"; rescue destination "retry" / "dlq" /           *)
(*          "release" (a held attempt that never started)                  *)
(*   stale  finalize was reported stale (changed nothing)                  *)
(*   ring   "Q" or "C" (rotate, prune)                                     *)
(*   jobs   claim only: sequence of [j, r] in lane order                   *)
(* trace_export.ts writes Trace modules and configs in this shape.         *)
(***************************************************************************)
EXTENDS AwaSegmentedStorage, Sequences

CONSTANT Trace

VARIABLE traceIdx

traceVars == <<vars, traceIdx>>

TraceInit == Init /\ traceIdx = 0

\* The held attempt of worker ev.w with receipt ev.r.
HeldWith(ev) == {a \in held[ev.w] : a.rcpt = ev.r}

\* Claimed rows, in lane order, must be the jobs and receipts the engine reported.
ClaimMatches(ev, u) ==
  /\ u # {}
  /\ \E sel \in {ClaimSel(HeadSlot(u), u, Len(ev.jobs))} :
       /\ Cardinality(sel) = Len(ev.jobs)
       /\ \A i \in 1..Len(ev.jobs) :
            /\ ev.jobs[i].r = ctr.rcpt + i - 1
            /\ \E p \in sel :
                 Cardinality({q \in sel : q < p}) = i - 1 /\ rq.row[p].job = ev.jobs[i].j

TraceStep(ev, c, u) ==
  \/ (ev.a = "enqueue" /\ EnqueueAtomic(ev.j))
  \/ (ev.a = "schedule" /\ EnqueueDeferred(ev.j))
  \/ (ev.a = "claim" /\ ClaimMatches(ev, u) /\ ClaimAtomic(ev.w, u, Len(ev.jobs)))
  \/ (/\ ev.a = "finalize"
      /\ \E a \in HeldWith(ev) :
           /\ a.job = ev.j
           /\ ((GuardMatches(a) = {}) <=> ev.stale)
           \* the destination the engine reported is the one the model computes
           /\ (ev.stale \/ Dest(ev.o, ev.j) = ev.o)
           /\ Finalize(ev.w, a, ev.o))
  \/ (/\ ev.a = "rescue"
      /\ ev.r \in Rcpts
      /\ rc.bat[ev.r].job = ev.j
      /\ Dest("retry", ev.j) = ev.o
      /\ Rescue(ev.r))
  \/ (/\ ev.a = "rescue"
      /\ ev.o = "release"
      /\ ev.r \in Rcpts
      /\ rc.bat[ev.r].job = ev.j
      /\ RescueRelease(ev.r))
  \/ (/\ ev.a = "cancelRunning"
      /\ ev.r \in Rcpts
      /\ rc.bat[ev.r].job = ev.j
      /\ CancelRunning(ev.r))
  \/ (ev.a = "promote" /\ Promote(ev.j))
  \/ (ev.a = "cancelReady" /\ CancelReady(ev.j, u))
  \/ (ev.a = "dlqMove" /\ DlqMove(ev.j))
  \/ (ev.a = "dlqRetry" /\ DlqRetry(ev.j))
  \/ (ev.a = "dlqPurge" /\ DlqPurge(ev.j))
  \/ (ev.a = "rotate" /\ ev.ring = "Q" /\ RotateQ)
  \/ (ev.a = "rotate" /\ ev.ring = "C" /\ RotateC)
  \/ (ev.a = "prune" /\ ev.ring = "Q" /\ PruneQ(c))
  \/ (ev.a = "prune" /\ ev.ring = "C" /\ PruneC)
  \/ (ev.a = "crash" /\ Crash(ev.w))

TraceNext ==
  /\ traceIdx < Len(Trace)
  /\ \E c \in {Cursor} : \E u \in {UnspentAt(c)} : TraceStep(Trace[traceIdx + 1], c, u)
  /\ traceIdx' = traceIdx + 1

TraceSpec == TraceInit /\ [][TraceNext]_traceVars

\* Expected to be VIOLATED by an accepted trace: the whole trace was replayed.
TraceIncomplete == traceIdx < Len(Trace)
=============================================================================
