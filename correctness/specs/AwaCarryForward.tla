------------------------------ MODULE AwaCarryForward ------------------------------
(***************************************************************************)
(* Carry-forward at queue-ring prune (migration 010, issue 9 item 17).     *)
(*                                                                         *)
(* A queue nobody serves keeps unclaimed ready rows in the oldest slot.   *)
(* Once the ring has wrapped, prune copies the slot's LIVE rows (not       *)
(* tombstoned, position >= the lane cursor) into the current slot, keeping *)
(* lane and position, then truncates the slot: ready rows, tombstones and  *)
(* emissions of that slot.  At most CarryLimit rows are carried; above     *)
(* that prune refuses.  Gate (a) (no open claim from the slot) still       *)
(* applies.                                                                *)
(*                                                                         *)
(* Prune is two steps: PruneBegin checks the gates on a plain snapshot     *)
(* (claims, cancels and producers go on meanwhile), PruneCommit takes the  *)
(* slot's ACCESS EXCLUSIVE lock, rechecks, carries and truncates           *)
(* atomically.  The ring lock keeps rotation out between the two.          *)
(*                                                                         *)
(* Lanes share one position sequence (lane_block_seq); a producer reserves *)
(* a position under its lane's enqueue lock, reads the ring cursor and may *)
(* commit later (a late writer into an old slot).  The claim is the        *)
(* engine's: fresh cursor C(L) = max next over the lane's emissions, slot  *)
(* of the lowest live row, that slot's run cut at the first row of another *)
(* slot, emission into that slot.                                          *)
(*                                                                         *)
(* Mode selects the carry:                                                 *)
(*   "ok"      the engine: recheck after the lock, carry the live rows;    *)
(*   "spent"   carry every untombstoned row, claimed ones too;             *)
(*   "partial" above the limit, carry CarryLimit rows and truncate anyway; *)
(*   "stale"   carry the rows that were live at PruneBegin (no recheck);   *)
(*   "requeue" carry into fresh positions at the tail of the lane.         *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS Jobs, Lanes, Slots, MaxPos, MaxBatch, CarryLimit, Mode

VARIABLES
  rows,     \* ready_entries: set of [job, lane, pos, slot]
  tomb,     \* ready_tombstones: set of [lane, pos, slot]
  emis,     \* claim_emissions: set of [lane, slot, next]
  open,     \* open receipts: set of [job, lane, pos, slot] (slot = the claim's ready_slot)
  pend,     \* producers between reserving a position and committing: set of rows
  ring,     \* [cur, gen]; gen saturates at Slots - 1 (the ring has wrapped)
  snap,     \* prune in progress: [t, live] from PruneBegin, or [t |-> -1]
  ctr,      \* next position of the shared lane sequence
  gh        \* ghosts: enq, orig (job -> first position), claims (job -> count), done,
            \* cancelled, lost, fifoBad, carried, limitHit, behind

vars == <<rows, tomb, emis, open, pend, ring, snap, ctr, gh>>

SlotIds == 0..(Slots - 1)
NoSnap == [t |-> -1, live |-> {}]

Max(S) == CHOOSE x \in S : \A y \in S : y <= x
Min(S) == CHOOSE x \in S : \A y \in S : x <= y

Cursor(l) ==
  IF \E e \in emis : e.lane = l THEN Max({e.next : e \in {x \in emis : x.lane = l}}) ELSE 0

Tombed(r) == [lane |-> r.lane, pos |-> r.pos, slot |-> r.slot] \in tomb

LiveRows(l) == {r \in rows : r.lane = l /\ r.pos >= Cursor(l) /\ ~Tombed(r)}

LiveIn(t) == {r \in rows : r.slot = t /\ r.pos >= Cursor(r.lane) /\ ~Tombed(r)}

Target == (ring.cur + Slots - ring.gen) % Slots

Wrapped == ring.gen = Slots - 1

SlotNonEmpty(s) ==
  \/ \E r \in rows : r.slot = s
  \/ \E x \in tomb : x.slot = s
  \/ \E e \in emis : e.slot = s

Init ==
  /\ rows = {} /\ tomb = {} /\ emis = {} /\ open = {} /\ pend = {}
  /\ ring = [cur |-> 0, gen |-> 0]
  /\ snap = NoSnap
  /\ ctr = 1
  /\ gh = [enq |-> {}, orig |-> [j \in Jobs |-> 0], claims |-> [j \in Jobs |-> 0],
           done |-> {}, cancelled |-> {}, lost |-> {}, fifoBad |-> FALSE,
           carried |-> FALSE, limitHit |-> FALSE, behind |-> FALSE]

\* Reserve a position under the lane's enqueue lock (held to commit) and read the cursor slot.
EnqueueBegin(j, l) ==
  /\ j \notin gh.enq
  /\ ctr <= MaxPos
  /\ ~(\E p \in pend : p.lane = l)
  /\ pend' = pend \cup {[job |-> j, lane |-> l, pos |-> ctr, slot |-> ring.cur]}
  /\ ctr' = ctr + 1
  /\ gh' = [gh EXCEPT !.enq = @ \cup {j}, !.orig[j] = ctr]
  /\ UNCHANGED <<rows, tomb, emis, open, ring, snap>>

\* The insert lands in the slot read at begin, which may by now be old or truncated.
EnqueueCommit(p) ==
  /\ rows' = rows \cup {p}
  /\ pend' = pend \ {p}
  /\ UNCHANGED <<tomb, emis, open, ring, snap, ctr, gh>>

\* A committed job of lane ol, unclaimed, not cancelled and not in this batch, with an earlier
\* first position than job oj: claiming oj before it breaks FIFO.
Overtaken(oj, ol, batch) ==
  \E q \in rows : q.lane = ol /\ gh.claims[q.job] = 0 /\ q.job \notin gh.cancelled
                  /\ q.job \notin batch /\ gh.orig[q.job] < gh.orig[oj]

Claim(l, n) ==
  LET live == LiveRows(l) IN
  /\ live # {}
  /\ LET head == CHOOSE r \in live : \A r2 \in live : r.pos <= r2.pos
         others == {r \in live : r.slot # head.slot}
         cut == IF others = {} THEN MaxPos + 1 ELSE Min({r.pos : r \in others})
         run == {r \in live : r.slot = head.slot /\ r.pos < cut}
         picked == {r \in run : Cardinality({r2 \in run : r2.pos <= r.pos}) <= n}
     IN
     /\ emis' = emis \cup {[lane |-> l, slot |-> head.slot,
                            next |-> Max({r.pos : r \in picked}) + 1]}
     /\ open' = open \cup picked
     /\ gh' = [gh EXCEPT
                 !.claims = [j \in Jobs |-> IF \E r \in picked : r.job = j THEN @[j] + 1
                                            ELSE @[j]],
                 !.fifoBad = @ \/ (\E r \in picked : Overtaken(r.job, l, {x.job : x \in picked}))]
  /\ UNCHANGED <<rows, tomb, pend, ring, snap, ctr>>

\* Finalize (completion): the receipt is closed; the terminal row's history is not modelled.
Close(c) ==
  /\ open' = open \ {c}
  /\ gh' = [gh EXCEPT !.done = @ \cup {c.job}]
  /\ UNCHANGED <<rows, tomb, emis, pend, ring, snap, ctr>>

\* Ready cancel under the lane's claim lock, against the fresh cursor.
Cancel(l) ==
  \E r \in LiveRows(l) :
    /\ tomb' = tomb \cup {[lane |-> r.lane, pos |-> r.pos, slot |-> r.slot]}
    /\ gh' = [gh EXCEPT !.cancelled = @ \cup {r.job}]
    /\ UNCHANGED <<rows, emis, open, pend, ring, snap, ctr>>

Rotate ==
  LET nx == (ring.cur + 1) % Slots IN
  /\ snap.t = -1
  /\ ~SlotNonEmpty(nx)
  /\ rows # {}
  /\ ring' = [cur |-> nx, gen |-> IF ring.gen < Slots - 1 THEN ring.gen + 1 ELSE ring.gen]
  /\ UNCHANGED <<rows, tomb, emis, open, pend, snap, ctr, gh>>

ClaimsClosed(t) == ~(\E c \in open : c.slot = t)

Limit == IF Wrapped THEN CarryLimit ELSE 0

\* Gates on a plain snapshot; the ring lock is taken (no rotation until PruneCommit/Abort).
PruneBegin ==
  /\ snap.t = -1
  /\ ring.gen >= 1
  /\ SlotNonEmpty(Target)
  /\ ClaimsClosed(Target)
  /\ (Cardinality(LiveIn(Target)) <= Limit \/ Mode = "partial")
  /\ snap' = [t |-> Target, live |-> LiveIn(Target)]
  /\ UNCHANGED <<rows, tomb, emis, open, pend, ring, ctr, gh>>

\* A prune that found too many live rows: nothing moves, the ring waits (skipped_carry_limit).
PruneRefused ==
  /\ snap.t = -1
  /\ ring.gen >= 1
  /\ Wrapped
  /\ SlotNonEmpty(Target)
  /\ ClaimsClosed(Target)
  /\ Cardinality(LiveIn(Target)) > CarryLimit
  /\ Mode # "partial"
  /\ ~gh.limitHit
  /\ gh' = [gh EXCEPT !.limitHit = TRUE]
  /\ UNCHANGED <<rows, tomb, emis, open, pend, ring, snap, ctr>>

\* The lock timed out, or the recheck failed: the prune does nothing.
PruneAbort ==
  /\ snap.t # -1
  /\ snap' = NoSnap
  /\ UNCHANGED <<rows, tomb, emis, open, pend, ring, ctr, gh>>

\* The first k rows of S by position.
FirstK(S, k) == {r \in S : Cardinality({r2 \in S : r2.pos <= r.pos}) <= k}

\* Rows to carry from t, per Mode.
CarrySet(t) ==
  IF Mode = "spent" THEN {r \in rows : r.slot = t /\ ~Tombed(r)}
  ELSE IF Mode = "stale" THEN snap.live \cap rows
  ELSE IF Mode = "partial" THEN FirstK(LiveIn(t), CarryLimit)
  ELSE LiveIn(t)

\* Lock, recheck, carry, truncate: one atomic step (the slot's partitions are locked).
PruneCommit ==
  LET t == snap.t
      carry == CarrySet(t)
      \* requeue: fresh positions at the tail, in the old order
      rank(r) == Cardinality({r2 \in carry : r2.pos <= r.pos})
      moved == IF Mode = "requeue"
               THEN {[r EXCEPT !.slot = ring.cur, !.pos = ctr + rank(r) - 1] : r \in carry}
               ELSE {[r EXCEPT !.slot = ring.cur] : r \in carry}
      gone == {r \in rows : r.slot = t}
      kept == {r \in rows : r.slot # t}
  IN
  /\ t # -1
  /\ ClaimsClosed(t)
  /\ (Mode \in {"stale", "partial"} \/ Cardinality(LiveIn(t)) <= Limit)
  /\ ctr + Cardinality(carry) <= MaxPos + 1
  /\ rows' = kept \cup moved
  /\ tomb' = {x \in tomb : x.slot # t}
  /\ emis' = {e \in emis : e.slot # t}
  /\ ctr' = IF Mode = "requeue" THEN ctr + Cardinality(carry) ELSE ctr
  /\ snap' = NoSnap
  /\ gh' = [gh EXCEPT
              !.lost = @ \cup {r.job : r \in {x \in gone \ carry :
                                 x.pos >= Cursor(x.lane) /\ ~Tombed(x)}},
              !.carried = @ \/ carry # {},
              !.behind = @ \/ (\E m \in moved : \E r \in kept :
                                 r.lane = m.lane /\ r.pos > m.pos /\ r.slot # m.slot)]
  /\ UNCHANGED <<open, pend, ring>>

Next ==
  \/ \E j \in Jobs : \E l \in Lanes : EnqueueBegin(j, l)
  \/ \E p \in pend : EnqueueCommit(p)
  \/ \E l \in Lanes : \E n \in 1..MaxBatch : Claim(l, n)
  \/ \E c \in open : Close(c)
  \/ \E l \in Lanes : Cancel(l)
  \/ Rotate
  \/ PruneBegin
  \/ PruneRefused
  \/ PruneAbort
  \/ PruneCommit

Spec == Init /\ [][Next]_vars

TypeOK ==
  /\ ring.cur \in SlotIds /\ ring.gen \in SlotIds
  /\ \A r \in rows : r.lane \in Lanes /\ r.slot \in SlotIds /\ r.job \in Jobs
  /\ ctr \in 1..(MaxPos + 1)

\* Where a job is: a producer in flight, a live ready row, an open attempt, finished,
\* cancelled.  Counted, so a copy shows up as a second place.
Live == {r \in rows : r.pos >= Cursor(r.lane) /\ ~Tombed(r)}

Places(j) ==
  Cardinality({p \in pend : p.job = j}) + Cardinality({r \in Live : r.job = j})
  + Cardinality({c \in open : c.job = j})
  + (IF j \in gh.done THEN 1 ELSE 0) + (IF j \in gh.cancelled THEN 1 ELSE 0)

\* 5.5: no enqueued job is ever dropped: it is somewhere, and prune never truncated it live.
NoLostJob == gh.lost = {} /\ \A j \in gh.enq : Places(j) >= 1

\* No job is in two places (a carried copy of a claimed or already carried row).
NoDuplicateJob == \A j \in gh.enq : Places(j) <= 1

\* At-most-once claim in this model (no retries): a carried row is never claimed twice.
ClaimedOnce == \A j \in Jobs : gh.claims[j] <= 1

\* 5.8: claims within a lane follow first-enqueue order.
FifoWithinLane == ~gh.fifoBad

\* 5.7: every untombstoned retained row below its lane's cursor was claimed, none above.
CursorSafety ==
  \A r \in rows : (~Tombed(r)) => ((r.pos < Cursor(r.lane)) = (gh.claims[r.job] > 0))

\* Finalization reads the body from the claim's ready slot.
OpenAttemptKeepsBody ==
  \A c \in open : \E r \in rows : r.job = c.job /\ r.slot = c.slot /\ r.pos = c.pos

\* Anti-vacuity probes (each expected to be violated by the good config).
ProbeCarried == ~gh.carried
ProbeCarriedBehindNewer == ~gh.behind
ProbeCarryLimit == ~gh.limitHit
=============================================================================
