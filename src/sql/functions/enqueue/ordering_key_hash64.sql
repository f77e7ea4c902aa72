-- Algorithm H (src/hash.ts, orderingKeyHash64): multiply-then-add over the key bytes, mod 2^64.
CREATE OR REPLACE FUNCTION {{schema}}.ordering_key_hash64(p_key bytea)
RETURNS numeric LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  h numeric := 14695981039346656037;
  i int;
BEGIN
  FOR i IN 0 .. length(p_key) - 1 LOOP
    h := mod(h * 1099511628211 + get_byte(p_key, i), 18446744073709551616);
  END LOOP;
  RETURN h;
END
$$;
