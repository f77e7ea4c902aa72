------------------------- MODULE AwaPartitionedQueueRouting -------------------------
(***************************************************************************)
(* Partition routing and enqueue-shard choice (see src/hash.ts and        *)
(* docs/storage.md).                                                       *)
(*                                                                         *)
(* A keyed job carries h = H(key) (Algorithm H), abstracted to a 4-bit     *)
(* value in 0..MaxHash.  Algorithm E picks the enqueue shard h mod S.      *)
(* Algorithm P picks the partition from a domain-separated mix of h; here  *)
(* a 4-bit analogue of the same shape (XOR a constant, xor-shift,          *)
(* multiply by an odd constant, xor-shift, then mod P).  With              *)
(* DomainSeparated = FALSE the partition is h mod P, as a naive router     *)
(* would do; with P = S every partition then sees a single shard, which    *)
(* CorrelatedPartitionShardCoverage must catch.                            *)
(***************************************************************************)
EXTENDS Naturals, Sequences

CONSTANTS PartitionCount, ShardCount, MaxHash, MaxJobs, DomainSeparated

VARIABLES
  records,  \* sequence of enqueued rows [h, partition, shard, seq]; the index is the id
  nextSeq,  \* partition -> shard -> next lane position
  route     \* h -> [p, s]: the routing table, computed once in Init and never changed
            \* (tla-checker re-evaluates definitions at every use, and Mix is costly)

vars == <<records, nextSeq, route>>

Parts == 0..(PartitionCount - 1)
Shards == 0..(ShardCount - 1)
Hashes == 0..MaxHash

\* 4-bit helpers (MaxHash <= 15).
Bit(x, i) == (x \div (2 ^ i)) % 2
Xor4(a, b) ==
  ((Bit(a, 0) + Bit(b, 0)) % 2) + 2 * ((Bit(a, 1) + Bit(b, 1)) % 2)
  + 4 * ((Bit(a, 2) + Bit(b, 2)) % 2) + 8 * ((Bit(a, 3) + Bit(b, 3)) % 2)
Shr(x, n) == x \div (2 ^ n)

\* Algorithm P in miniature: v = h XOR c; v ^= v >> 2; v = v * k mod 16; v ^= v >> 2.
Mix(h) ==
  LET v1 == Xor4(h, 9)
      v2 == Xor4(v1, Shr(v1, 2))
      v3 == (v2 * 13) % 16
  IN Xor4(v3, Shr(v3, 2))

PartitionOf(h) ==
  IF PartitionCount <= 1 THEN 0
  ELSE IF DomainSeparated THEN Mix(h) % PartitionCount ELSE h % PartitionCount

\* Algorithm E with an ordering key.
ShardOf(h) == IF ShardCount <= 1 THEN 0 ELSE h % ShardCount

Init ==
  /\ records = <<>>
  /\ nextSeq = [p \in Parts |-> [s \in Shards |-> 1]]
  /\ route = [h \in Hashes |-> [p |-> PartitionOf(h), s |-> ShardOf(h)]]

Enqueue(h) ==
  LET p == route[h].p
      s == route[h].s
  IN
  /\ Len(records) < MaxJobs
  /\ records' = Append(records, [h |-> h, partition |-> p, shard |-> s,
                                 seq |-> nextSeq[p][s]])
  /\ nextSeq' = [nextSeq EXCEPT ![p][s] = @ + 1]
  /\ UNCHANGED route

Next == \E h \in Hashes : Enqueue(h)

Spec == Init /\ [][Next]_vars

----------------------------------------------------------------------------
TypeOK ==
  /\ \A i \in 1..Len(records) :
       records[i].partition \in Parts /\ records[i].shard \in Shards
  /\ \A p \in Parts : \A s \in Shards : nextSeq[p][s] \in 1..(MaxJobs + 1)

\* Rows follow the routing (Algorithms E and P).
RowsFollowRouting ==
  \A i \in 1..Len(records) :
    /\ records[i].partition = route[records[i].h].p
    /\ records[i].shard = route[records[i].h].s


\* Same key -> same partition and same shard; and per-key FIFO positions.
SameKeySameLane ==
  \A i, k \in 1..Len(records) :
    ((i < k /\ records[i].h = records[k].h)
       => (/\ records[i].partition = records[k].partition
           /\ records[i].shard = records[k].shard
           /\ records[i].seq < records[k].seq))

\* Positions are unique per (partition, shard).
UniqueLanePositions ==
  \A i, k \in 1..Len(records) :
    ((i # k /\ records[i].partition = records[k].partition /\
      records[i].shard = records[k].shard)
       => (records[i].seq # records[k].seq))

\* Every partition reaches every enqueue shard (domain separation).  A property of
\* the constants, checked as an invariant so that it fails at the initial state.
CorrelatedPartitionShardCoverage ==
  \A p \in Parts : \A s \in Shards :
    \E h \in Hashes : route[h].p = p /\ route[h].s = s
=============================================================================
