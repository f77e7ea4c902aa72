-- The states a finalize item may plan (src/runtime/policy.ts decides them): those a finalized
-- attempt can leave its job in. A state outside them (say `running`) would close the attempt
-- and write the job nowhere, so the item is refused instead.
CREATE DOMAIN {{schema}}.finalize_state AS {{schema}}.job_state
  CONSTRAINT finalize_state_is_final
  CHECK (VALUE IN ('completed', 'retryable', 'scheduled', 'cancelled', 'failed'));
