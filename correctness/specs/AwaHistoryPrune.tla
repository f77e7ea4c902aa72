------------------------------ MODULE AwaHistoryPrune ------------------------------
(***************************************************************************)
(* Completed-job history (docs/admin.md, "History and retention").         *)
(*                                                                         *)
(* A finished job sits in its queue-ring slot until prune truncates the   *)
(* slot.  Prune copies the slot's finished jobs into job_history in the   *)
(* same transaction as the TRUNCATE (Mode = "atomic"), so every snapshot  *)
(* sees a finished job exactly once - in the ring or in history - until   *)
(* its retention R has passed; history is reclaimed only by dropping      *)
(* partitions whose whole range has expired.                              *)
(*                                                                         *)
(* Broken modes: "no_copy" truncates without copying (the job vanishes    *)
(* before its retention passes); "split" copies in one transaction and    *)
(* truncates in another (a reader between them sees the job twice, and a  *)
(* job finished in between is truncated uncopied).  Both must violate     *)
(* VisibleExactlyOnce.                                                     *)
(***************************************************************************)
EXTENDS Naturals

CONSTANTS Jobs, MaxTime, R, Mode

VARIABLES
  fin,     \* job -> the time it finished, or MaxTime + 1 while it has not
  ring,    \* finished jobs in the (one modelled) ring slot
  hist,    \* jobs in job_history
  copied,  \* "split" only: the copy has committed, the truncate has not
  clock

vars == <<fin, ring, hist, copied, clock>>

NotYet == MaxTime + 1

TypeOK ==
  /\ fin \in [Jobs -> 0..NotYet]
  /\ ring \subseteq Jobs /\ hist \subseteq Jobs /\ copied \in BOOLEAN
  /\ clock \in 0..MaxTime

Init ==
  /\ fin = [j \in Jobs |-> NotYet]
  /\ ring = {} /\ hist = {} /\ copied = FALSE /\ clock = 0

Finish(j) ==
  /\ fin[j] = NotYet
  /\ fin' = [fin EXCEPT ![j] = clock]
  /\ ring' = ring \cup {j}
  /\ UNCHANGED <<hist, copied, clock>>

\* Retention 0 keeps nothing past the ring: such jobs are not copied.
Keep(S) == IF R > 0 THEN S ELSE {}

PruneAtomic ==
  /\ Mode = "atomic" /\ ring # {}
  /\ hist' = hist \cup Keep(ring)
  /\ ring' = {}
  /\ UNCHANGED <<fin, copied, clock>>

PruneNoCopy ==
  /\ Mode = "no_copy" /\ ring # {}
  /\ ring' = {}
  /\ UNCHANGED <<fin, hist, copied, clock>>

CopyStep ==
  /\ Mode = "split" /\ ~copied /\ ring # {}
  /\ hist' = hist \cup Keep(ring)
  /\ copied' = TRUE
  /\ UNCHANGED <<fin, ring, clock>>

TruncateStep ==
  /\ Mode = "split" /\ copied
  /\ ring' = {}
  /\ copied' = FALSE
  /\ UNCHANGED <<fin, hist, clock>>

Tick ==
  /\ clock < MaxTime
  /\ clock' = clock + 1
  /\ UNCHANGED <<fin, ring, hist, copied>>

\* Dropping expired partitions: only rows whose retention has passed go.
DropExpired ==
  /\ \E j \in hist : fin[j] + R <= clock
  /\ hist' = {j \in hist : fin[j] + R > clock}
  /\ UNCHANGED <<fin, ring, copied, clock>>

Next ==
  \/ \E j \in Jobs : Finish(j)
  \/ PruneAtomic \/ PruneNoCopy \/ CopyStep \/ TruncateStep
  \/ Tick \/ DropExpired

Spec == Init /\ [][Next]_vars

Retained(j) == fin[j] # NotYet /\ clock < fin[j] + R

\* Every snapshot shows a finished job exactly once until its retention passes.
VisibleExactlyOnce ==
  \A j \in Jobs : (Retained(j) => ((j \in ring) # (j \in hist)))

\* Nothing is in history that has not finished.
HistoryOnlyFinished == \A j \in hist : fin[j] # NotYet

\* Anti-vacuity: a retained job does reach history.
ProbeInHistory == \A j \in Jobs : ~(Retained(j) /\ j \in hist)
=============================================================================
