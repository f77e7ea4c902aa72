---------------------------- MODULE AwaKeyedClaims ----------------------------
(***************************************************************************)
(* Fleet-wide per-key concurrency limits (docs/concurrency-keys.md;        *)
(* src/sql/functions/flow/: key_enter, key_release, key_admit_next).       *)
(*                                                                         *)
(* A keyed job enters its key before its lane: under the key's lock it is  *)
(* admitted (an admission row, then a ready row any claimer may take) when *)
(* the key has fewer than Limit admissions and nobody waits, else it is    *)
(* parked in the key's waiting plane.  Claimers take ready jobs freely     *)
(* (the claim path knows nothing of keys, so no key blocks another).  A    *)
(* terminal finalization frees the slot and admits the next waiting job    *)
(* in the same transaction, under the key's lock.  Retry, snooze and       *)
(* rescue keep the slot (the job goes to the deferred plane and is         *)
(* promoted back).  A claimer may crash; rescue then retries its job.      *)
(*                                                                         *)
(* Locked = FALSE: the insert checks for room and writes in two steps      *)
(* without the key's lock (check-then-admit), so two producers both see    *)
(* room: RunningPerKey fails.  RetryKeepsSlot = FALSE: a retry frees the   *)
(* slot and re-enters the key at promotion, so the next job of the key     *)
(* starts before the retried one finished: PerKeyOrder fails.              *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS N, Limit, Claimers, Split, Locked, RetryKeepsSlot, MaxRetries

Jobs == 1..N
Keys == {"a", "b"}
\* Job j's key: all "a", or alternating when Split.
Key(j) == IF Split /\ j % 2 = 0 THEN "b" ELSE "a"

VARIABLES
  js,        \* job -> new | checked | waiting | ready | running | deferred | done
  admitted,  \* key_admissions: jobs holding a slot of their key
  owner,     \* job -> the claimer running it, or "none"
  alive,     \* claimer -> FALSE once crashed
  seen,      \* job -> the room its (broken, unlocked) insert saw at its check
  started,   \* ghost: jobs that were ever claimed
  retries    \* job -> retries so far

vars == <<js, admitted, owner, alive, seen, started, retries>>

States == {"new", "checked", "waiting", "ready", "running", "deferred", "done"}

TypeOK ==
  /\ js \in [Jobs -> States]
  /\ admitted \subseteq Jobs
  /\ owner \in [Jobs -> Claimers \cup {"none"}]
  /\ alive \in [Claimers -> BOOLEAN]
  /\ seen \in [Jobs -> BOOLEAN]
  /\ started \subseteq Jobs
  /\ retries \in [Jobs -> 0..MaxRetries]

Init ==
  /\ js = [j \in Jobs |-> "new"]
  /\ admitted = {}
  /\ owner = [j \in Jobs |-> "none"]
  /\ alive = [c \in Claimers |-> TRUE]
  /\ seen = [j \in Jobs |-> FALSE]
  /\ started = {}
  /\ retries = [j \in Jobs |-> 0]

AdmittedOf(k) == {j \in admitted : Key(j) = k}
WaitingOf(k) == {j \in Jobs : js[j] = "waiting" /\ Key(j) = k}
Room(k) == Cardinality(AdmittedOf(k)) < Limit /\ WaitingOf(k) = {}
Min(S) == CHOOSE x \in S : \A y \in S : x <= y

\* Producers insert each key's jobs in index order (the key's insert order).
InOrder(j) == \A i \in Jobs : (i < j /\ Key(i) = Key(j)) => js[i] # "new"

\* key_enter under the key's lock: one atomic step.
Insert(j) ==
  /\ Locked
  /\ js[j] = "new"
  /\ InOrder(j)
  /\ IF Room(Key(j))
       THEN /\ js' = [js EXCEPT ![j] = "ready"]
            /\ admitted' = admitted \cup {j}
       ELSE /\ js' = [js EXCEPT ![j] = "waiting"]
            /\ UNCHANGED admitted
  /\ UNCHANGED <<owner, alive, seen, started, retries>>

\* Broken: the room is read in one step ...
Check(j) ==
  /\ ~Locked
  /\ js[j] = "new"
  /\ InOrder(j)
  /\ seen' = [seen EXCEPT ![j] = Room(Key(j))]
  /\ js' = [js EXCEPT ![j] = "checked"]
  /\ UNCHANGED <<admitted, owner, alive, started, retries>>

\* ... and acted on in another.
Commit(j) ==
  /\ js[j] = "checked"
  /\ IF seen[j]
       THEN /\ js' = [js EXCEPT ![j] = "ready"]
            /\ admitted' = admitted \cup {j}
       ELSE /\ js' = [js EXCEPT ![j] = "waiting"]
            /\ UNCHANGED admitted
  /\ UNCHANGED <<owner, alive, seen, started, retries>>

Claim(c, j) ==
  /\ alive[c]
  /\ js[j] = "ready"
  /\ js' = [js EXCEPT ![j] = "running"]
  /\ owner' = [owner EXCEPT ![j] = c]
  /\ started' = started \cup {j}
  /\ UNCHANGED <<admitted, alive, seen, retries>>

\* key_release: drop j's slot and admit the key's next waiting job if that leaves room.
\* A waiting job j' becomes ready in the same step (same transaction).
Released(j) == admitted \ {j}
NextOf(j) ==
  IF WaitingOf(Key(j)) # {} /\ Cardinality({i \in Released(j) : Key(i) = Key(j)}) < Limit
    THEN {Min(WaitingOf(Key(j)))} ELSE {}

\* A terminal transition of j (completed, failed, cancelled): frees the slot.
Terminal(j) ==
  /\ js' = [i \in Jobs |-> IF i = j THEN "done"
                           ELSE IF i \in NextOf(j) THEN "ready" ELSE js[i]]
  /\ admitted' = Released(j) \cup NextOf(j)
  /\ owner' = [owner EXCEPT ![j] = "none"]

\* Retry (or snooze): to the deferred plane; the slot is kept, or (broken) freed.
ToDeferred(j) ==
  /\ retries' = [retries EXCEPT ![j] = retries[j] + 1]
  /\ owner' = [owner EXCEPT ![j] = "none"]
  /\ IF RetryKeepsSlot
       THEN /\ js' = [js EXCEPT ![j] = "deferred"]
            /\ UNCHANGED admitted
       ELSE /\ js' = [i \in Jobs |-> IF i = j THEN "deferred"
                                     ELSE IF i \in NextOf(j) THEN "ready" ELSE js[i]]
            /\ admitted' = Released(j) \cup NextOf(j)

Complete(j) ==
  /\ js[j] = "running"
  /\ alive[owner[j]]
  /\ Terminal(j)
  /\ UNCHANGED <<alive, seen, started, retries>>

Retry(j) ==
  /\ js[j] = "running"
  /\ alive[owner[j]]
  /\ retries[j] < MaxRetries
  /\ ToDeferred(j)
  /\ UNCHANGED <<alive, seen, started>>

Crash(c) ==
  /\ alive[c]
  /\ Cardinality({d \in Claimers : ~alive[d]}) = 0
  /\ alive' = [alive EXCEPT ![c] = FALSE]
  /\ UNCHANGED <<js, admitted, owner, seen, started, retries>>

\* Rescue closes a dead claimer's attempt: retried, or failed once retries are spent.
Rescue(j) ==
  /\ js[j] = "running"
  /\ ~alive[owner[j]]
  /\ IF retries[j] < MaxRetries
       THEN ToDeferred(j)
       ELSE /\ Terminal(j)
            /\ UNCHANGED retries
  /\ UNCHANGED <<alive, seen, started>>

\* Promotion: a job that kept its slot goes straight back; one that lost it enters the key.
Promote(j) ==
  /\ js[j] = "deferred"
  /\ IF j \in admitted
       THEN /\ js' = [js EXCEPT ![j] = "ready"]
            /\ UNCHANGED admitted
       ELSE IF Room(Key(j))
         THEN /\ js' = [js EXCEPT ![j] = "ready"]
              /\ admitted' = admitted \cup {j}
         ELSE /\ js' = [js EXCEPT ![j] = "waiting"]
              /\ UNCHANGED admitted
  /\ UNCHANGED <<owner, alive, seen, started, retries>>

Finished ==
  /\ \A j \in Jobs : js[j] = "done" \/ (js[j] = "ready" /\ \A c \in Claimers : ~alive[c])
  /\ UNCHANGED vars

Next ==
  \/ \E j \in Jobs : Insert(j) \/ Check(j) \/ Commit(j) \/ Complete(j) \/ Retry(j)
                     \/ Rescue(j) \/ Promote(j)
  \/ \E c \in Claimers, j \in Jobs : Claim(c, j)
  \/ \E c \in Claimers : Crash(c)
  \/ Finished

Spec == Init /\ [][Next]_vars

\* Running attempts of one key never exceed the limit (a dead claimer's attempt counts until
\* rescue closes it: its process may only be partitioned away).
RunningPerKey ==
  \A k \in Keys : Cardinality({j \in Jobs : Key(j) = k /\ js[j] = "running"}) <= Limit

\* Admissions never exceed the limit either.
AdmittedPerKey == \A k \in Keys : Cardinality(AdmittedOf(k)) <= Limit

\* Limit 1: a job starts only after every earlier job of its key finished (retries included).
PerKeyOrder ==
  Limit = 1 =>
    \A i, j \in Jobs : (Key(i) = Key(j) /\ i < j /\ j \in started) => js[i] = "done"

\* No waiting job is stranded: while a key has waiters, some job holds its slot (and will free
\* it), and every admitted job is in a plane from which it reaches a terminal state.
NoStrandedWaiter == \A k \in Keys : WaitingOf(k) # {} => AdmittedOf(k) # {}
AdmittedLive == \A j \in admitted : js[j] \in {"ready", "running", "deferred"}

\* Anti-vacuity: both keys' jobs can all finish after a crash and a rescue.
ProbeAllDone == ~(\A j \in Jobs : js[j] = "done") \/ \A c \in Claimers : alive[c]
=============================================================================
