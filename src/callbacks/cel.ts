/**
 * CEL expressions of callbacks, through `@marcbachmann/cel-js` (zero dependencies, ESM, an
 * environment API that declares variables, so an expression naming anything but `payload` is
 * refused when it is compiled). Expressions are compiled when a callback is registered and
 * compiled again from their stored text wherever it is resolved.
 *
 * Resolution order (`resolveCallback`):
 * 1. `filter` false → ignore (the job keeps waiting); an error counts as true (pass);
 * 2. `onFail` true → fail; an error counts as false;
 * 3. `onComplete` true → complete with `transform(payload)` (the original payload when the
 *    transform fails or its result is not JSON); an error counts as false;
 * 4. otherwise the caller's default action.
 *
 * JSON numbers reach CEL as doubles. `payload.n == 100` holds for `{"n": 100}` (CEL compares
 * numbers across int and double), but arithmetic must stay in one type (`payload.n * 2.0`).
 * CEL integers come back as BigInt and are turned into numbers before they are stored.
 * @module
 */
import { Environment } from "@marcbachmann/cel-js";
import { ValidationError } from "../errors.ts";

/** The CEL expressions of a callback; each optional, each evaluated over `payload` only. */
export interface CallbackExpressions {
  /** Must be true for `resolveCallback` to act; false ignores the call. */
  filter?: string;
  /** When true, `resolveCallback` completes the job. */
  onComplete?: string;
  /** When true, `resolveCallback` fails the job (checked before `onComplete`). */
  onFail?: string;
  /** Turns the payload into the job's result when `onComplete` completes it. */
  transform?: string;
}

/** Longest expression accepted, in characters. */
export const MAX_EXPRESSION_CHARS = 4096;

const ENV = new Environment({
  unlistedVariablesAreDyn: false,
  homogeneousAggregateLiterals: false,
}).registerVariable("payload", "dyn");

type Compiled = (ctx: { payload: unknown }) => unknown;

const cache = new Map<string, Compiled>();
const CACHE_MAX = 1000;

/**
 * Compile one expression: parse and type-check it against the only variable, `payload`. Throws
 * a {@link ValidationError} naming `field` for a syntax error, an unknown variable or a type
 * error found without evaluating.
 */
export function compileExpression(source: unknown, field: string): Compiled {
  if (typeof source !== "string" || source.trim() === "") {
    throw new ValidationError(field, "must be a non-empty CEL expression string");
  }
  if (source.length > MAX_EXPRESSION_CHARS) {
    throw new ValidationError(field, `must be at most ${MAX_EXPRESSION_CHARS} characters`);
  }
  const hit = cache.get(source);
  if (hit !== undefined) return hit;
  let fn: Compiled;
  try {
    const checked = ENV.check(source);
    if (!checked.valid) throw checked.error;
    fn = ENV.parse(source) as Compiled;
  } catch (err) {
    const first = String((err as Error)?.message ?? err).split("\n")[0];
    throw new ValidationError(
      field,
      `invalid CEL expression (${first}); the only variable is \`payload\``,
      { cause: err },
    );
  }
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(source, fn);
  return fn;
}

/** Check the expressions of a registration; returns them as stored text (absent → null). */
export function checkExpressions(
  exprs: CallbackExpressions,
  field: string,
): {
  filter: string | null;
  onComplete: string | null;
  onFail: string | null;
  transform: string | null;
} {
  const out = { filter: null, onComplete: null, onFail: null, transform: null } as {
    filter: string | null;
    onComplete: string | null;
    onFail: string | null;
    transform: string | null;
  };
  for (const key of ["filter", "onComplete", "onFail", "transform"] as const) {
    const v = exprs[key];
    if (v === undefined) continue;
    compileExpression(v, `${field}.${key}`);
    out[key] = v as string;
  }
  return out;
}

/** A CEL value as JSON: BigInt integers become numbers; anything not JSON throws. */
export function celToJson(v: unknown): unknown {
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`${v} is not JSON`);
    return v;
  }
  if (typeof v === "bigint") {
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new Error(`integer ${v} does not fit a JSON number`);
    return n;
  }
  if (Array.isArray(v)) return v.map(celToJson);
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) {
      if (typeof k !== "string") throw new Error("map keys must be strings to be JSON");
      o[k] = celToJson(x);
    }
    return o;
  }
  if (typeof v === "object") {
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) o[k] = celToJson(x);
      return o;
    }
    // CEL's uint wraps a BigInt.
    const inner = (v as { valueOf(): unknown }).valueOf();
    if (typeof inner === "bigint") return celToJson(inner);
  }
  throw new Error(`a ${typeof v} CEL value is not JSON`);
}

/** The action of one `resolveCallback` call, and the result to store when it completes. */
export type CelDecision =
  | { action: "ignore" }
  | { action: "fail"; error: string }
  | { action: "complete"; payload: unknown }
  | { action: "default" };

/** Error text of a job failed because `onFail` matched. */
export const ON_FAIL_MATCHED = "on_fail expression matched";

function truthy(source: string | null, payload: unknown, onError: boolean): boolean {
  if (source === null) return false;
  try {
    const out = compileExpression(source, "expression")({ payload });
    // A result that is not a boolean is an evaluation error too.
    return typeof out === "boolean" ? out : onError;
  } catch {
    return onError;
  }
}

/**
 * Evaluate a callback's expressions over `payload` in the documented order (see the module
 * documentation). `default` means no expression decided: apply the caller's default action.
 */
export function decide(
  exprs: {
    filter: string | null;
    onComplete: string | null;
    onFail: string | null;
    transform: string | null;
  },
  payload: unknown,
): CelDecision {
  const p = payload === undefined ? null : payload;
  if (exprs.filter !== null && !truthy(exprs.filter, p, true)) return { action: "ignore" };
  if (truthy(exprs.onFail, p, false)) return { action: "fail", error: ON_FAIL_MATCHED };
  if (truthy(exprs.onComplete, p, false)) {
    if (exprs.transform === null) return { action: "complete", payload: p };
    try {
      const out = celToJson(compileExpression(exprs.transform, "transform")({ payload: p }));
      return { action: "complete", payload: out };
    } catch {
      return { action: "complete", payload: p };
    }
  }
  return { action: "default" };
}
