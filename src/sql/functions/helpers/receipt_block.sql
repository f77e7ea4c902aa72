-- Every receipt a claim batch can hold: [receipt_id(batch, 0), receipt_id(batch + 1, 0)).
-- Inlined like receipt_id.
CREATE OR REPLACE FUNCTION {{schema}}.receipt_block(p_batch_id bigint)
RETURNS int8range LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT int8range({{schema}}.receipt_id(p_batch_id, 0), {{schema}}.receipt_id(p_batch_id + 1, 0))
$$;
