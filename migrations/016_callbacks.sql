-- Callbacks (docs/callbacks.md). An attempt that registered a callback keeps it in its
-- attempt_state row: the id and deadline (already there), the CEL expressions compiled at
-- registration, whether the handler parked (returned without waiting: no process holds the
-- attempt) and the payload of a resume a sequential wait has not consumed yet.
ALTER TABLE {{schema}}.attempt_state
  ADD COLUMN callback_filter text,
  ADD COLUMN callback_on_complete text,
  ADD COLUMN callback_on_fail text,
  ADD COLUMN callback_transform text,
  ADD COLUMN callback_parked boolean NOT NULL DEFAULT false,
  -- {"payload": <resume payload>} of the callback named in callback_result_id.
  ADD COLUMN callback_result jsonb,
  ADD COLUMN callback_result_id uuid;

-- Every resolution finds its attempt by callback id; ids are random UUIDs, unique by design.
CREATE UNIQUE INDEX attempt_state_callback_id ON {{schema}}.attempt_state (callback_id)
  WHERE callback_id IS NOT NULL;

-- The timeout scan: parked and waiting attempts by deadline.
CREATE INDEX attempt_state_callback_timeout ON {{schema}}.attempt_state (callback_timeout_at)
  WHERE state = 'waiting_external';
