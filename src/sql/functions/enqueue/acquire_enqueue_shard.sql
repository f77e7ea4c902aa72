-- Take the enqueue lock of one lane of (queue, priority) and return its shard.
-- Keyed inserts wait for their fixed shard (per-key FIFO needs it). Unkeyed inserts prefer a lane
-- this transaction already holds, then try every shard without waiting, from shard 0 up, and
-- only wait when every shard is held by an open transaction. Starting at 0 keeps jobs in as few
-- lanes as the producers' concurrency needs: a claim ranks every registered lane of the queue,
-- and each lane costs it a cursor probe and a head probe, so lanes opened by chance (one per
-- pooled connection) slow every claim for good.
CREATE OR REPLACE FUNCTION {{schema}}.acquire_enqueue_shard(p_queue text, p_priority smallint, p_key_hash numeric)
RETURNS smallint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n smallint := {{schema}}.queue_shards(p_queue);
  held text := coalesce(current_setting('{{schema}}.held_lanes', true), '');
  s smallint;
  k bigint;
  prev_timeout text;
BEGIN
  IF n <= 1 THEN
    PERFORM pg_advisory_xact_lock({{schema}}.lane_key(p_queue, p_priority, 0::smallint, 1));
    RETURN 0;
  END IF;
  IF p_key_hash IS NOT NULL THEN
    s := mod(p_key_hash, n)::smallint;
    PERFORM pg_advisory_xact_lock({{schema}}.lane_key(p_queue, p_priority, s, 1));
    RETURN s;
  END IF;
  -- Nothing held yet (the common single insert): no lane key to compare.
  IF held <> '' THEN
    FOR i IN 0 .. n - 1 LOOP
      k := {{schema}}.lane_key(p_queue, p_priority, i::smallint, 1);
      IF position(',' || k || ',' IN held) > 0 THEN
        RETURN i;
      END IF;
    END LOOP;
  END IF;
  FOR round IN 0 .. 20 LOOP
    FOR i IN 0 .. n - 1 LOOP
      s := i::smallint;
      k := {{schema}}.lane_key(p_queue, p_priority, s, 1);
      IF pg_try_advisory_xact_lock(k) THEN
        PERFORM set_config('{{schema}}.held_lanes', held || ',' || k || ',', true);
        RETURN s;
      END IF;
    END LOOP;
    -- Every shard is held by an open transaction. Queue on one shard for a few ms (the lock
    -- queue wakes us the moment it is released), then look at all of them again, rotating
    -- which shard we queue on so one long transaction cannot hold us.
    s := mod(round, n)::smallint;
    k := {{schema}}.lane_key(p_queue, p_priority, s, 1);
    prev_timeout := current_setting('lock_timeout');
    PERFORM set_config('lock_timeout', '20ms', true);
    BEGIN
      PERFORM pg_advisory_xact_lock(k);
      PERFORM set_config('lock_timeout', prev_timeout, true);
      PERFORM set_config('{{schema}}.held_lanes', held || ',' || k || ',', true);
      RETURN s;
    EXCEPTION WHEN lock_not_available THEN
      PERFORM set_config('lock_timeout', prev_timeout, true);
    END;
  END LOOP;
  -- Still nothing after ~400 ms: wait without a timeout, so Postgres can detect a deadlock.
  k := {{schema}}.lane_key(p_queue, p_priority, 0::smallint, 1);
  PERFORM pg_advisory_xact_lock(k);
  PERFORM set_config('{{schema}}.held_lanes', held || ',' || k || ',', true);
  RETURN 0;
END
$$;
