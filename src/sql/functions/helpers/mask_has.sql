-- Bit `state` of a unique-state mask (leftmost bit = scheduled).
CREATE OR REPLACE FUNCTION {{schema}}.mask_has(p_mask bit(8), p_state {{schema}}.job_state)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT p_mask IS NOT NULL
    AND get_bit(p_mask, array_position(enum_range(NULL::{{schema}}.job_state), p_state) - 1) = 1
$$;
