-- One name check of check_job_names: ASCII letters, digits and _ . : -, not starting with . : or
-- -, 1 to p_max characters. The pattern admits ASCII only, so characters and bytes agree (a
-- queue name's limit is in bytes: the NOTIFY channel). p_rule ends the error message.
CREATE OR REPLACE FUNCTION {{schema}}.check_name(p_field text, p_value text, p_max int,
  p_rule text)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_value IS NULL OR length(p_value) = 0 OR length(p_value) > p_max
     OR p_value !~ '^[A-Za-z0-9_][A-Za-z0-9_.:-]*$' THEN
    RAISE EXCEPTION 'awa: invalid % %: must be 1 to % %', p_field,
      coalesce(quote_literal(p_value), 'NULL'), p_max, p_rule
      USING ERRCODE = '23514';
  END IF;
END
$$;
