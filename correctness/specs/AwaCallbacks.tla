----------------------------- MODULE AwaCallbacks -----------------------------
(***************************************************************************)
(* Callback resolution of one job (docs/callbacks.md,                      *)
(* src/sql/functions/callbacks/resolve_callback.sql, expire_callbacks.sql). *)
(*                                                                         *)
(* A claim opens an attempt (run_lease + 1).  Its handler registers        *)
(* callbacks (a newer one supersedes the older) and parks or waits on the  *)
(* latest.  External resolvers find the attempt by callback id, then, in   *)
(* a second step under the attempt lock, check again that the id is still  *)
(* the attempt's callback and the attempt still open, and only then        *)
(* complete, retry or resume it.  Racing them: the timeout scan (waiting    *)
(* attempts), heartbeat rescue (running attempts whose worker died; it    *)
(* picks candidates in one statement and closes them in another, under    *)
(* the attempt lock, rechecking that the attempt still runs),             *)
(* operator cancel, and new claims after a retry, which hand out tokens of *)
(* a newer lease.                                                          *)
(*                                                                         *)
(* With LeaseGuard = FALSE the second step only checks that the job has an *)
(* open attempt: a token found before a timeout and a new claim then        *)
(* changes the newer attempt (StaleTokenNeverApplies fails), and two       *)
(* resolvers that found the same token both apply (AtMostOneResolution     *)
(* fails).  With RescueRecheck = FALSE rescue closes what it picked even   *)
(* if the attempt parked in between (ParkedEndsByCallback fails).          *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS Resolvers, MaxLease, MaxReg, LeaseGuard, RescueRecheck

Tokens == (1..MaxLease) \X (1..MaxReg)
NoTok == <<0, 0>>
Acts == {"complete", "retry", "resume"}

VARIABLES
  lease,     \* the job's run_lease (its newest attempt)
  open,      \* whether that attempt is open
  astate,    \* its attempt_state: none | running | waiting
  cb,        \* its registered callback token, or NoTok
  nreg,      \* registrations made by the attempt
  jstate,    \* available | open | completed | failed | cancelled
  issued,    \* tokens handed out so far
  pc,        \* resolver -> idle | found | done
  want,      \* resolver -> the token it found
  act,       \* resolver -> what it does with it
  resolved,  \* ghost: token -> resolutions that applied to it
  stale,     \* ghost: a token of an older lease changed an attempt
  rpick,     \* the lease rescue picked as a candidate, 0 when none
  rwaiting   \* ghost: rescue closed an attempt that was waiting on its callback

rescueVars == <<rpick, rwaiting>>
vars == <<lease, open, astate, cb, nreg, jstate, issued, pc, want, act, resolved, stale,
  rpick, rwaiting>>

TypeOK ==
  /\ lease \in 0..MaxLease
  /\ open \in BOOLEAN
  /\ astate \in {"none", "running", "waiting"}
  /\ cb \in Tokens \cup {NoTok}
  /\ nreg \in 0..MaxReg
  /\ jstate \in {"available", "open", "completed", "failed", "cancelled"}
  /\ issued \subseteq Tokens
  /\ pc \in [Resolvers -> {"idle", "found", "done"}]
  /\ want \in [Resolvers -> Tokens \cup {NoTok}]
  /\ act \in [Resolvers -> Acts]
  /\ resolved \in [Tokens -> 0..4]
  /\ stale \in BOOLEAN
  /\ rpick \in 0..MaxLease
  /\ rwaiting \in BOOLEAN

Init ==
  /\ lease = 0
  /\ open = FALSE
  /\ astate = "none"
  /\ cb = NoTok
  /\ nreg = 0
  /\ jstate = "available"
  /\ issued = {}
  /\ pc = [r \in Resolvers |-> "idle"]
  /\ want = [r \in Resolvers |-> NoTok]
  /\ act = [r \in Resolvers |-> "complete"]
  /\ resolved = [t \in Tokens |-> 0]
  /\ stale = FALSE
  /\ rpick = 0
  /\ rwaiting = FALSE

\* The attempt ends: its attempt_state row (and so its callback) goes with it.
Close(next) ==
  /\ open' = FALSE
  /\ astate' = "none"
  /\ cb' = NoTok
  /\ jstate' = next

\* Retry or fail once the last attempt is spent.
AfterAttempt == IF lease = MaxLease THEN "failed" ELSE "available"

Claim ==
  /\ jstate = "available"
  /\ lease < MaxLease
  /\ lease' = lease + 1
  /\ open' = TRUE
  /\ astate' = "running"
  /\ cb' = NoTok
  /\ nreg' = 0
  /\ jstate' = "open"
  /\ UNCHANGED <<issued, pc, want, act, resolved, stale>>
  /\ UNCHANGED rescueVars

\* register_callback: a fresh token supersedes the attempt's earlier one.
Register ==
  /\ open
  /\ astate = "running"
  /\ nreg < MaxReg
  /\ nreg' = nreg + 1
  /\ cb' = <<lease, nreg + 1>>
  /\ issued' = issued \cup {<<lease, nreg + 1>>}
  /\ UNCHANGED <<lease, open, astate, jstate, pc, want, act, resolved, stale>>
  /\ UNCHANGED rescueVars

\* park_callback or wait_callback_step: the attempt waits on its callback.
Wait ==
  /\ open
  /\ astate = "running"
  /\ cb # NoTok
  /\ astate' = "waiting"
  /\ UNCHANGED <<lease, open, cb, nreg, jstate, issued, pc, want, act, resolved, stale>>
  /\ UNCHANGED rescueVars

\* expire_callbacks: a waiting attempt past its deadline; the timeout resolves its callback.
Timeout ==
  /\ open
  /\ astate = "waiting"
  /\ resolved' = [resolved EXCEPT ![cb] = @ + 1]
  /\ Close(AfterAttempt)
  /\ UNCHANGED <<lease, nreg, issued, pc, want, act, stale>>
  /\ UNCHANGED rescueVars

\* rescue_candidates: a running attempt whose worker died (waiting ones are never picked).
RescuePick ==
  /\ open
  /\ astate = "running"
  /\ rpick = 0
  /\ rpick' = lease
  /\ UNCHANGED <<lease, open, astate, cb, nreg, jstate, issued, pc, want, act, resolved, stale,
       rwaiting>>

\* finalize_attempts of the picked attempt, a new statement under its lock: the receipt must
\* still be open and, with RescueRecheck, the attempt must not have parked since the pick.
RescueApply ==
  /\ rpick # 0
  /\ rpick' = 0
  /\ IF open /\ lease = rpick /\ (RescueRecheck => astate = "running")
       THEN /\ rwaiting' = (rwaiting \/ astate = "waiting")
            /\ Close(AfterAttempt)
       ELSE UNCHANGED <<open, astate, cb, jstate, rwaiting>>
  /\ UNCHANGED <<lease, nreg, issued, pc, want, act, resolved, stale>>

\* Operator cancel of the job, running or waiting.
Cancel ==
  /\ open
  /\ Close("cancelled")
  /\ UNCHANGED <<lease, nreg, issued, pc, want, act, resolved, stale>>
  /\ UNCHANGED rescueVars

\* First statement of resolve_callback: find the attempt by callback id.
Lookup(r) ==
  /\ pc[r] = "idle"
  /\ cb # NoTok
  /\ \E a \in Acts:
       /\ want' = [want EXCEPT ![r] = cb]
       /\ act' = [act EXCEPT ![r] = a]
  /\ pc' = [pc EXCEPT ![r] = "found"]
  /\ UNCHANGED <<lease, open, astate, cb, nreg, jstate, issued, resolved, stale>>
  /\ UNCHANGED rescueVars

\* Under the attempt lock, in a new statement: the recheck, then the action.
Guard(r) == IF LeaseGuard THEN open /\ cb = want[r] /\ want[r][1] = lease ELSE open

Applies(r) == Guard(r) /\ (act[r] = "retry" => astate = "waiting")

Apply(r) ==
  /\ pc[r] = "found"
  /\ pc' = [pc EXCEPT ![r] = "done"]
  /\ IF Applies(r)
       THEN /\ resolved' = [resolved EXCEPT ![want[r]] = @ + 1]
            /\ stale' = (stale \/ want[r][1] # lease)
            /\ CASE act[r] = "complete" -> Close("completed")
                 [] act[r] = "retry" -> Close("available")
                 [] act[r] = "resume" ->
                      /\ astate' = "running"
                      /\ cb' = NoTok
                      /\ UNCHANGED <<open, jstate>>
       ELSE UNCHANGED <<open, astate, cb, jstate, resolved, stale>>
  /\ UNCHANGED <<lease, nreg, issued, want, act>>
  /\ UNCHANGED rescueVars

\* Nothing is left to do: the job ended (or spent its attempts) and no resolver is mid-call.
Finished ==
  /\ ~open
  /\ (jstate # "available" \/ lease = MaxLease)
  /\ \A r \in Resolvers: pc[r] # "found"
  /\ UNCHANGED vars

Next ==
  \/ Claim \/ Register \/ Wait \/ Timeout \/ RescuePick \/ RescueApply \/ Cancel \/ Finished
  \/ \E r \in Resolvers: Lookup(r) \/ Apply(r)

\* Each callback is resolved (by a resolution or its timeout) at most once.
AtMostOneResolution == \A t \in Tokens: resolved[t] <= 1

\* A token of an older attempt never changes a newer one.
StaleTokenNeverApplies == ~stale

\* A closed attempt holds no callback; an open one only a token of its own lease.
CallbackBelongsToAttempt == (cb # NoTok) => (open /\ cb[1] = lease)

\* An attempt waiting on its callback ends by that callback (resolution or timeout) or an
\* operator cancel, never by heartbeat rescue.
ParkedEndsByCallback == ~rwaiting
===============================================================================
