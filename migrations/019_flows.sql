-- Follow-up jobs, flows (dependency graphs) and batches (docs/flows.md). A flow is a set of
-- nodes; each node is one job. A node whose parents have not finished yet waits here, with its
-- job body, and is not in the ready ring or the deferred plane. The transition that finishes its
-- last parent (finalize_attempts, cancel_job) releases it in the same transaction, through
-- {{schema}}.flow_job_finished; nothing polls.
--
-- Release is exactly once by a counter decremented with UPDATE ... RETURNING: a waiting node has
-- `stripes` gate rows whose `remaining` values add up to its unfinished parent edges. Each parent
-- edge decrements the row of its stripe; whoever takes a row to zero then locks the node row and,
-- in a fresh statement (so every decrement committed before the lock was granted is visible),
-- releases the node only if all its stripes are zero and it is still waiting. Striping spreads a
-- large fan-in (a batch callback) over several rows instead of one hot counter.
CREATE SEQUENCE {{schema}}.flow_id_seq;

CREATE TABLE {{schema}}.flows (
  flow_id bigint PRIMARY KEY,
  -- flow (insertFlow), batch (insertBatch) or follow_up (a job's follow-ups).
  flow_kind text NOT NULL CHECK (flow_kind IN ('flow', 'batch', 'follow_up')),
  name text CHECK (length(name) BETWEEN 1 AND 200),
  -- cancelled once cancelFlow (or a `cancel` failure policy) ran: nothing of it is released any
  -- more. Otherwise a flow's state is derived from its nodes.
  cancelled_at timestamptz,
  node_count int NOT NULL CHECK (node_count > 0),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX flows_created ON {{schema}}.flows (created_at);

CREATE TABLE {{schema}}.flow_nodes (
  -- The node's job id, reserved when the flow is inserted (parents get lower ids than children).
  job_id bigint PRIMARY KEY,
  flow_id bigint NOT NULL REFERENCES {{schema}}.flows ON DELETE CASCADE,
  node_key text NOT NULL CHECK (length(node_key) BETWEEN 1 AND 200),
  -- waiting (parents unfinished), released (its job is in the queue: available, scheduled,
  -- running or retrying), or final: completed, failed, cancelled, skipped (a follow-up whose
  -- trigger did not happen). A node that never ran is final here only.
  state text NOT NULL
    CHECK (state IN ('waiting', 'released', 'completed', 'failed', 'cancelled', 'skipped')),
  -- What the node's job is given at release under metadata "awa:parents" (the parents' ids,
  -- states and results) or "awa:batch" (counts of the members' final states).
  inputs text NOT NULL DEFAULT 'parents' CHECK (inputs IN ('parents', 'counts')),
  -- The job body of a waiting node; cleared at release.
  kind text NOT NULL,
  args jsonb,
  queue text,
  priority smallint,
  max_attempts smallint,
  run_at timestamptz,
  tags text[],
  metadata jsonb,
  -- The job's result once completed (the handler's returned value).
  result jsonb,
  finished_at timestamptz,
  UNIQUE (flow_id, node_key)
);

CREATE TABLE {{schema}}.flow_edges (
  parent_id bigint NOT NULL,
  child_id bigint NOT NULL,
  stripe smallint NOT NULL,
  -- Parent final states that let the child go on; any other final state applies `otherwise`:
  -- fail (the child fails without running), cancel (the child and the rest of the flow are
  -- cancelled) or skip (a follow-up whose trigger did not happen).
  satisfied_by text[] NOT NULL,
  otherwise text NOT NULL CHECK (otherwise IN ('fail', 'cancel', 'skip')),
  PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX flow_edges_child ON {{schema}}.flow_edges (child_id);

CREATE TABLE {{schema}}.flow_gates (
  child_id bigint NOT NULL,
  stripe smallint NOT NULL,
  remaining int NOT NULL CHECK (remaining >= 0),
  PRIMARY KEY (child_id, stripe)
);

-- The completion path asks whether any released node exists before it runs its flow hook.
CREATE INDEX flow_nodes_released ON {{schema}}.flow_nodes (job_id) WHERE state = 'released';
