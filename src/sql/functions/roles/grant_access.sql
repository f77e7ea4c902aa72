-- Grant one of the least-privilege access levels of docs/operations.md to an existing role:
--   producer  EXECUTE on insert_job (which runs as the schema owner) and nothing on the tables;
--   observer  SELECT on every table: stats, lists, inspection, no writes;
--   operator  the admin layer: read and write rows, use the sequences, no TRUNCATE;
--   worker    what a Client needs, maintenance included: the operator's rights and TRUNCATE
--             (ring prune).
-- Every level gets USAGE on the schema and SELECT on the two tables a client reads to check
-- the installed version. Run it as the role that owns the schema (the one that runs migrate()):
-- it also sets that role's default privileges in the schema, so tables a later migration adds
-- are covered. Idempotent; raises 42704 for an unknown role and 22023 for an unknown level.
CREATE OR REPLACE FUNCTION {{schema}}.grant_access(p_role text, p_level text)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_tables text;
BEGIN
  IF p_level IS NULL OR p_level NOT IN ('producer', 'observer', 'operator', 'worker') THEN
    RAISE EXCEPTION 'awa: unknown access level %; expected producer, observer, operator or worker',
      coalesce(p_level, 'NULL') USING ERRCODE = '22023';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = p_role) THEN
    RAISE EXCEPTION 'awa: role % does not exist; create it first (CREATE ROLE ... LOGIN)',
      coalesce(p_role, 'NULL') USING ERRCODE = '42704';
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA {{schema}} TO %I', p_role);
  EXECUTE format('GRANT SELECT ON {{schema}}.schema_version, {{schema}}.runtime_requirements TO %I',
    p_role);
  IF p_level IN ('producer', 'operator', 'worker') THEN
    EXECUTE format('GRANT EXECUTE ON FUNCTION {{schema}}.insert_job(text, jsonb, text, smallint, '
      'smallint, timestamptz, jsonb, text[], bytea, bit, bytea, jsonb) TO %I', p_role);
  END IF;
  IF p_level = 'producer' THEN
    RETURN;
  END IF;
  v_tables := CASE p_level
    WHEN 'observer' THEN 'SELECT'
    WHEN 'operator' THEN 'SELECT, INSERT, UPDATE, DELETE'
    ELSE 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE' END;
  EXECUTE format('GRANT %s ON ALL TABLES IN SCHEMA {{schema}} TO %I', v_tables, p_role);
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA {{schema}} GRANT %s ON TABLES TO %I',
    v_tables, p_role);
  IF p_level <> 'observer' THEN
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {{schema}} TO %I', p_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA {{schema}} GRANT USAGE, SELECT, UPDATE '
      'ON SEQUENCES TO %I', p_role);
  END IF;
END
$$;
