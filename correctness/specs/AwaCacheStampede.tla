--------------------------- MODULE AwaCacheStampede ---------------------------
(***************************************************************************)
(* Cross-process getOrSet of one cache key (docs/cache.md,                 *)
(* src/cache/cache.ts, takeCacheLease in src/storage/cache.ts).            *)
(*                                                                         *)
(* Each process reads the key; on a miss it tries to take the key's load   *)
(* lease.  Taking is one statement that also re-checks the key: it takes   *)
(* only when the key holds nothing live.  The holder runs the loader and   *)
(* stores the value (which replaces the lease); the others poll the key    *)
(* and try again.  A holder may die while loading: its lease then expires  *)
(* and another process takes it.                                           *)
(*                                                                         *)
(* With Recheck = FALSE the take ignores a value stored since the miss     *)
(* (a lock taken without reading the key again): a process that missed    *)
(* before the first load finished loads a second time, and NoStampede      *)
(* fails.                                                                  *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS Procs, Recheck

VARIABLES
  pc,       \* process -> read | take | load | done | crashed
  entry,    \* the key's row: none | lease | value
  holder,   \* the process whose lease the row is, or "nobody"
  loaders   \* ghost: processes that ran the loader

vars == <<pc, entry, holder, loaders>>

TypeOK ==
  /\ pc \in [Procs -> {"read", "take", "load", "done", "crashed"}]
  /\ entry \in {"none", "lease", "value"}
  /\ holder \in Procs \cup {"nobody"}
  /\ loaders \subseteq Procs

Init ==
  /\ pc = [p \in Procs |-> "read"]
  /\ entry = "none"
  /\ holder = "nobody"
  /\ loaders = {}

\* get(): a value ends the call; a miss (no row, or a lease) goes on to take the lease.
Read(p) ==
  /\ pc[p] = "read"
  /\ pc' = [pc EXCEPT ![p] = IF entry = "value" THEN "done" ELSE "take"]
  /\ UNCHANGED <<entry, holder, loaders>>

\* takeCacheLease: the conditional upsert. Taken, the process loads; refused, it polls again.
CanTake == entry = "none" \/ (~Recheck /\ entry = "value")

Take(p) ==
  /\ pc[p] = "take"
  /\ IF CanTake
       THEN /\ entry' = "lease"
            /\ holder' = p
            /\ loaders' = loaders \cup {p}
            /\ pc' = [pc EXCEPT ![p] = "load"]
       ELSE /\ pc' = [pc EXCEPT ![p] = "read"]
            /\ UNCHANGED <<entry, holder, loaders>>

\* The loader returned: writeCacheEntry stores the value over the lease.
Store(p) ==
  /\ pc[p] = "load"
  /\ entry' = "value"
  /\ holder' = "nobody"
  /\ pc' = [pc EXCEPT ![p] = "done"]
  /\ UNCHANGED loaders

\* The holder's process dies mid-load.
Crash(p) ==
  /\ pc[p] = "load"
  /\ pc' = [pc EXCEPT ![p] = "crashed"]
  /\ UNCHANGED <<entry, holder, loaders>>

\* A dead holder's lease passes its expires_at: the key holds nothing live again.
Expire ==
  /\ entry = "lease"
  /\ holder # "nobody"
  /\ pc[holder] = "crashed"
  /\ entry' = "none"
  /\ holder' = "nobody"
  /\ UNCHANGED <<pc, loaders>>

Finished ==
  /\ \A p \in Procs : pc[p] \in {"done", "crashed"}
  /\ UNCHANGED vars

Next ==
  \/ \E p \in Procs : Read(p) \/ Take(p) \/ Store(p) \/ Crash(p)
  \/ Expire
  \/ Finished

Spec == Init /\ [][Next]_vars

\* Of the processes still alive, at most one ever ran the loader.
NoStampede == Cardinality({p \in loaders : pc[p] # "crashed"}) <= 1

\* Every process that finished without loading saw the stored value.
DoneSawValue == \A p \in Procs : (pc[p] = "done" /\ p \notin loaders) => entry = "value"

\* Anti-vacuity: a dead holder's key is loaded by another process.
ProbeTakeover == ~(\E p \in Procs : pc[p] = "crashed" /\ entry = "value")
=============================================================================
