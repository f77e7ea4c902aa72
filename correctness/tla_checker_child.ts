/**
 * Runs one model check with tla-checker (WASM build of tla-rs) in its own process, so the
 * runner can check several configs at once and time each one. Reads a JSON request on
 * stdin, writes a JSON result on stdout.
 *
 * @module
 */
import init, { check_spec_with_options } from "tla-checker";

interface Request {
  source: string;
  cfg: string;
  maxStates: number;
  maxDepth: number;
  allowDeadlock: boolean;
}

const req = JSON.parse(await new Response(Deno.stdin.readable).text()) as Request;
await init();
const started = performance.now();
const raw = check_spec_with_options(
  req.source,
  JSON.stringify({
    cfg_source: req.cfg,
    max_states: req.maxStates,
    max_depth: req.maxDepth,
    allow_deadlock: req.allowDeadlock,
  }),
);
const seconds = (performance.now() - started) / 1000;
const result = JSON.parse(raw) as {
  success: boolean;
  error_type: string | null;
  error_message: string | null;
  states_explored: number;
  trace: string[] | null;
};
const trace = result.trace ?? [];
console.log(JSON.stringify({
  success: result.success,
  errorType: result.error_type,
  errorMessage: result.error_message,
  states: result.states_explored,
  seconds,
  // the last state of the counterexample, for the report
  lastState: trace.length ? trace[trace.length - 1].split(/\n(?=State \d+\n)/).at(-1) : null,
}));
