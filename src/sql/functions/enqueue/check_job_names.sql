-- A name is ASCII letters, digits and _ . : -, not starting with . : or -. The pattern is
-- matched on characters, and it admits ASCII only, so characters and bytes agree.
CREATE OR REPLACE FUNCTION {{schema}}.check_job_names(p_kind text, p_queue text)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_kind IS NULL OR length(p_kind) = 0 OR length(p_kind) > 200
     OR p_kind !~ '^[A-Za-z0-9_][A-Za-z0-9_.:-]*$' THEN
    RAISE EXCEPTION 'awa: invalid kind %: must be 1 to 200 characters of letters, digits, '
      '_ . : - (starting with a letter, digit or _)', coalesce(quote_literal(p_kind), 'NULL')
      USING ERRCODE = '23514';
  END IF;
  IF p_queue IS NULL OR length(p_queue) = 0 OR octet_length(p_queue) > 59
     OR p_queue !~ '^[A-Za-z0-9_][A-Za-z0-9_.:-]*$' THEN
    RAISE EXCEPTION 'awa: invalid queue %: must be 1 to 59 letters, digits, _ . : - (starting '
      'with a letter, digit or _; NOTIFY channel limit)', coalesce(quote_literal(p_queue), 'NULL')
      USING ERRCODE = '23514';
  END IF;
END
$$;
