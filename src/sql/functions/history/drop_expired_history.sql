-- Reclaim expired history whole: drop every hourly partition of job_history whose range ended
-- before now, and truncate the default partition once all its rows have expired. First, in the
-- same transaction, the unique claims still held by the completed jobs in them are released:
-- a completed unique job blocks its key until its history row expires. Claims are taken before
-- the table locks (the global order: unique claims before partitions); a table lock not granted
-- within p_lock_timeout leaves that partition for the next call. Returns the partitions reclaimed.
CREATE OR REPLACE FUNCTION {{schema}}.drop_expired_history(p_lock_timeout text DEFAULT '100ms')
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_parts regclass[];
  v_part regclass;
  v_done int := 0;
BEGIN
  -- Collected first: an open loop cursor over the default partition would forbid its TRUNCATE.
  SELECT coalesce(array_agg(b.rel ORDER BY b.upper_bound NULLS LAST), '{}') INTO v_parts FROM (
    SELECT c.oid::regclass AS rel, substring(pg_get_expr(c.relpartbound, c.oid)
        FROM 'TO \(''([^'']+)''\)')::timestamptz AS upper_bound
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = '{{schema}}.job_history'::regclass
  ) b
  WHERE b.upper_bound <= now() OR (b.upper_bound IS NULL
    AND EXISTS (SELECT 1 FROM {{schema}}.job_history_default)
    AND NOT EXISTS (SELECT 1 FROM {{schema}}.job_history_default WHERE expires_at > now()));
  FOREACH v_part IN ARRAY v_parts LOOP
    BEGIN
      EXECUTE format('DELETE FROM {{schema}}.job_unique_claims u USING %s h '
        'WHERE h.state = ''completed'' AND h.unique_key IS NOT NULL '
        'AND u.unique_key = h.unique_key AND u.job_id = h.job_id', v_part);
      PERFORM set_config('lock_timeout', p_lock_timeout, true);
      IF v_part = '{{schema}}.job_history_default'::regclass THEN
        -- Recheck under the lock: a prune may have added a live row since the scan.
        LOCK TABLE {{schema}}.job_history_default IN ACCESS EXCLUSIVE MODE;
        IF EXISTS (SELECT 1 FROM {{schema}}.job_history_default WHERE expires_at > now()) THEN
          RAISE EXCEPTION USING ERRCODE = 'lock_not_available';
        END IF;
        TRUNCATE {{schema}}.job_history_default;
      ELSE
        EXECUTE format('DROP TABLE %s', v_part);
      END IF;
      PERFORM set_config('lock_timeout', '0', true);
      v_done := v_done + 1;
    EXCEPTION WHEN lock_not_available THEN
      PERFORM set_config('lock_timeout', '0', true);
    END;
  END LOOP;
  RETURN v_done;
END
$$;
