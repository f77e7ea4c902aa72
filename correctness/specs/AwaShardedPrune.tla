------------------------------ MODULE AwaShardedPrune ------------------------------
(***************************************************************************)
(* Shard-qualified matching at prune (docs/storage.md).  *)
(*                                                                         *)
(* One queue and priority split into enqueue shards.  Each shard is its   *)
(* own lane with its own sequence, so lane_seq values repeat across        *)
(* shards.  Prune's gate (b) must compare each ready row with the cursor   *)
(* of ITS lane (queue, priority, enqueue_shard).  With ShardQualified =    *)
(* FALSE the gate matches rows to emissions on lane_seq alone (one cursor  *)
(* for the whole queue), which lets prune drop an unclaimed row of a       *)
(* slower shard: NoPendingReadyDropped must fail.                          *)
(*                                                                         *)
(* Claim-side details (receipts, finalization) are in AwaSegmentedStorage; *)
(* here a claim simply spends the lane head.                               *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS Jobs, Shards, Slots, MaxSeq, ShardQualified

VARIABLES
  rows,     \* ready_entries: set of [job, shard, seq, slot]
  emis,     \* claim_emissions: set of [shard, slot, next]
  nextSeq,  \* shard -> next lane position of that shard's lane sequence
  cur,      \* ring-Q current slot
  gen,      \* generation, saturating at Slots - 1
  enq,      \* ghost: jobs enqueued
  claimed,  \* ghost: jobs whose row was claimed
  dropped   \* ghost: jobs whose unclaimed row was truncated

vars == <<rows, emis, nextSeq, cur, gen, enq, claimed, dropped>>

SlotIds == 0..(Slots - 1)

Max(S) == CHOOSE x \in S : \A y \in S : y <= x

\* C(L) for the lane of shard sh: max next_lane_seq over that lane's retained emissions.
LaneCursor(sh) ==
  IF \E e \in emis : e.shard = sh THEN Max({e.next : e \in {x \in emis : x.shard = sh}})
  ELSE 0

\* The broken variant: emissions matched on lane_seq alone, ignoring the shard.
AnyCursor == IF emis = {} THEN 0 ELSE Max({e.next : e \in emis})

GateCursor(sh) == IF ShardQualified THEN LaneCursor(sh) ELSE AnyCursor

Unspent(sh) == {r \in rows : r.shard = sh /\ r.seq >= LaneCursor(sh)}

Init ==
  /\ rows = {} /\ emis = {}
  /\ nextSeq = [sh \in Shards |-> 1]
  /\ cur = 0 /\ gen = 0
  /\ enq = {} /\ claimed = {} /\ dropped = {}

Enqueue(j, sh) ==
  /\ j \notin enq
  /\ nextSeq[sh] <= MaxSeq
  /\ rows' = rows \cup {[job |-> j, shard |-> sh, seq |-> nextSeq[sh], slot |-> cur]}
  /\ nextSeq' = [nextSeq EXCEPT ![sh] = @ + 1]
  /\ enq' = enq \cup {j}
  /\ UNCHANGED <<emis, cur, gen, claimed, dropped>>

\* Claim the head of shard sh's lane (max_batch 1), emitting into the row's slot.
Claim(sh) ==
  \E r \in Unspent(sh) :
    /\ \A r2 \in Unspent(sh) : r.seq <= r2.seq
    /\ emis' = emis \cup {[shard |-> sh, slot |-> r.slot, next |-> r.seq + 1]}
    /\ claimed' = claimed \cup {r.job}
    /\ UNCHANGED <<rows, nextSeq, cur, gen, enq, dropped>>

SlotNonEmpty(s) == (\E r \in rows : r.slot = s) \/ (\E e \in emis : e.slot = s)

Rotate ==
  LET nx == (cur + 1) % Slots IN
  /\ ~SlotNonEmpty(nx)
  /\ \E s \in SlotIds : SlotNonEmpty(s)
  /\ cur' = nx
  /\ gen' = IF gen < Slots - 1 THEN gen + 1 ELSE gen
  /\ UNCHANGED <<rows, emis, nextSeq, enq, claimed, dropped>>

Target == (cur + Slots - gen) % Slots

\* Gate (b) per lane; truncation of ready rows and emissions of the slot.
Prune ==
  LET t == Target IN
  /\ gen >= 1
  /\ SlotNonEmpty(t)
  /\ ~(\E r \in rows : r.slot = t /\ r.seq >= GateCursor(r.shard))
  /\ dropped' = dropped \cup {r.job : r \in {x \in rows : x.slot = t /\ x.job \notin claimed}}
  /\ rows' = {r \in rows : r.slot # t}
  /\ emis' = {e \in emis : e.slot # t}
  /\ UNCHANGED <<nextSeq, cur, gen, enq, claimed>>

Next ==
  \/ \E j \in Jobs : \E sh \in Shards : Enqueue(j, sh)
  \/ \E sh \in Shards : Claim(sh)
  \/ Rotate
  \/ Prune

Spec == Init /\ [][Next]_vars

TypeOK ==
  /\ cur \in SlotIds /\ gen \in SlotIds
  /\ \A r \in rows : r.shard \in Shards /\ r.slot \in SlotIds

\* 5.14 / 5.6: prune never truncates a ready row that was not claimed.
NoPendingReadyDropped == dropped = {}

\* Every enqueued job is claimable, claimed, or its claimed row was pruned: never stranded.
NoStrandedRow ==
  \A r \in rows : ((r.job \notin claimed) => (r.seq >= LaneCursor(r.shard)))
=============================================================================
