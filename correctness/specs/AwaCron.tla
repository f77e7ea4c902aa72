------------------------------- MODULE AwaCron -------------------------------
(***************************************************************************)
(* Cron fire evaluation under leader overlap and failover (docs/cron.md).  *)
(*                                                                         *)
(* One schedule that fires at every tick of the server clock (fire times  *)
(* 1..MaxTime).  Several leaders evaluate it, at any time and in any      *)
(* interleaving: two may both believe they lead (the fence is left out on *)
(* purpose, to show the compare-and-swap alone suffices), and any leader  *)
(* may crash between its read and its fire.  A pass reads last (the      *)
(* schedule's last_enqueued_at) and the clock and decides the fires it    *)
(* owes: the latest due one (coalesce) or every due one (catch_up).  Its  *)
(* fire is one statement (fire_cron_job): advance last to the latest of   *)
(* them only if last still equals what was read and the schedule is not   *)
(* paused, and insert one job per fire, or nothing at all.                *)
(*                                                                         *)
(* Conditional = FALSE drops the comparison with what was read (read,     *)
(* then insert): NoDoubleFire must fail.  Atomic = FALSE splits the       *)
(* statement in two (advance, then insert), so a crash between them      *)
(* advances last without a job: NoLostFire must fail.                     *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS Leaders, MaxTime, Conditional, Atomic, CatchUp

VARIABLES
  clock,    \* the server clock; fire t is due once clock >= t
  last,     \* cron_jobs.last_enqueued_at; 0 before the first fire
  paused,   \* cron_jobs.paused_at IS NOT NULL
  pc,       \* leader -> "idle" | "read" | "half" (advanced, insert pending)
  seen,     \* leader -> the value of last its pass read
  owed,     \* leader -> the fires its pass decided to enqueue
  jobs,     \* fire time -> jobs enqueued for it
  promised, \* ghost: fires that some committed advance of last stands for
  badPause  \* ghost: a job was inserted while the schedule was paused

vars == <<clock, last, paused, pc, seen, owed, jobs, promised, badPause>>

Times == 1..MaxTime

Max(S) == CHOOSE x \in S : \A y \in S : y <= x

Init ==
  /\ clock = 0 /\ last = 0 /\ paused = FALSE
  /\ pc = [l \in Leaders |-> "idle"]
  /\ seen = [l \in Leaders |-> 0]
  /\ owed = [l \in Leaders |-> {}]
  /\ jobs = [t \in Times |-> 0]
  /\ promised = {} /\ badPause = FALSE

Tick ==
  /\ clock < MaxTime
  /\ clock' = clock + 1
  /\ UNCHANGED <<last, paused, pc, seen, owed, jobs, promised, badPause>>

\* readCronCandidates: unpaused schedules, their last fire and the clock; dueFires decides.
Read(l) ==
  /\ pc[l] = "idle" /\ ~paused /\ last < clock
  /\ seen' = [seen EXCEPT ![l] = last]
  /\ owed' = [owed EXCEPT ![l] = IF CatchUp THEN (last + 1)..clock ELSE {clock}]
  /\ pc' = [pc EXCEPT ![l] = "read"]
  /\ UNCHANGED <<clock, last, paused, jobs, promised, badPause>>

Enqueue(S) == [t \in Times |-> IF t \in S THEN jobs[t] + 1 ELSE jobs[t]]

\* fire_cron_job: the compare-and-swap and, when Atomic, the inserts in the same statement.
Fire(l) ==
  /\ pc[l] = "read"
  /\ IF (~Conditional \/ last = seen[l]) /\ ~paused
       THEN /\ last' = Max(owed[l])
            /\ promised' = promised \cup owed[l]
            /\ IF Atomic
                 THEN /\ jobs' = Enqueue(owed[l])
                      /\ pc' = [pc EXCEPT ![l] = "idle"]
                 ELSE /\ UNCHANGED jobs
                      /\ pc' = [pc EXCEPT ![l] = "half"]
       ELSE /\ UNCHANGED <<last, jobs, promised>>
            /\ pc' = [pc EXCEPT ![l] = "idle"]
  /\ UNCHANGED <<clock, paused, seen, owed, badPause>>

\* The second statement of a split fire (Atomic = FALSE only).
Insert(l) ==
  /\ pc[l] = "half"
  /\ jobs' = Enqueue(owed[l])
  /\ badPause' = (badPause \/ paused)
  /\ pc' = [pc EXCEPT ![l] = "idle"]
  /\ UNCHANGED <<clock, last, paused, seen, owed, promised>>

\* A leader dies (SIGKILL, lost connection): its pass is gone; what it committed stays.
Crash(l) ==
  /\ pc[l] # "idle"
  /\ pc' = [pc EXCEPT ![l] = "idle"]
  /\ UNCHANGED <<clock, last, paused, seen, owed, jobs, promised, badPause>>

Pause ==
  /\ ~paused /\ paused' = TRUE
  /\ UNCHANGED <<clock, last, pc, seen, owed, jobs, promised, badPause>>

Resume ==
  /\ paused /\ paused' = FALSE
  /\ UNCHANGED <<clock, last, pc, seen, owed, jobs, promised, badPause>>

Next ==
  \/ Tick \/ Pause \/ Resume
  \/ \E l \in Leaders : Read(l) \/ Fire(l) \/ Insert(l) \/ Crash(l)

Spec == Init /\ [][Next]_vars

TypeOK ==
  /\ clock \in 0..MaxTime /\ last \in 0..MaxTime
  /\ \A l \in Leaders : pc[l] \in {"idle", "read", "half"} /\ owed[l] \subseteq Times
  /\ \A t \in Times : jobs[t] \in Nat

\* No fire time is ever enqueued twice, whichever leaders overlap or crash.
NoDoubleFire == \A t \in Times : jobs[t] <= 1

\* Every fire the schedule's last fire stands for has its job, or a pass is about to insert it.
NoLostFire ==
  \A t \in promised : jobs[t] >= 1 \/ \E l \in Leaders : pc[l] = "half" /\ t \in owed[l]

\* Never a job before its fire time, never one for a fire beyond the last fire.
NoEarlyFire == \A t \in Times : jobs[t] >= 1 => (t <= clock /\ t <= last)

\* A paused schedule enqueues nothing.
NoFireWhilePaused == ~badPause

\* coalesce: one job per pass, the latest due; catch_up: every fire up to last, in order.
CatchUpComplete ==
  (CatchUp /\ Atomic /\ Conditional) => \A t \in 1..last : jobs[t] = 1

\* Anti-vacuity: the good configs reach a state where two leaders hold a read of one value.
ProbeOverlap == ~(\E a, b \in Leaders : a # b /\ pc[a] = "read" /\ pc[b] = "read" /\ seen[a] = seen[b])
=============================================================================
