/**
 * Validation of the runtime's options: queue configs, heartbeat and notifier settings, shutdown
 * options and event names (each maintenance service validates its own, see src/maintenance/).
 * Every rejection is a {@link ValidationError} naming the field and the allowed range; unknown
 * keys are rejected so a misspelt option never silently falls back to its default.
 * @module
 */
import { ValidationError } from "../errors.ts";
import type {
  ClientEvents,
  HeartbeatOptions,
  NotifierOptions,
  QueueConfig,
  RateLimit,
} from "./types.ts";
import { OUTCOME_EVENT_NAMES } from "./outcomes.ts";

/** One hour in ms: the ceiling of polling intervals. */
export const HOUR_MS = 3_600_000;
/** One day in ms: the ceiling of other durations (setTimeout itself stops at 2^31 - 1 ms). */
export const DAY_MS = 86_400_000;

/** Resolved queue configuration with defaults applied. */
export type ResolvedQueueConfig = Required<Omit<QueueConfig, "rateLimit">> & {
  rateLimit: { perSecond: number; burst: number } | null;
};

/** A value as it may appear in an error message; never throws (Symbol, BigInt, cycles). */
export function describeValue(v: unknown): string {
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "bigint":
      return `${v}n (a BigInt)`;
    case "symbol":
      return `${v.toString()} (a Symbol)`;
    case "function":
      return "a function";
    case "object":
      if (v === null) return "null";
      return Array.isArray(v) ? "an array" : "an object";
    default:
      return String(v);
  }
}

/** Require a plain object (not null, not an array) holding only `allowed` keys. */
export function checkObject(
  v: unknown,
  field: string,
  allowed: readonly string[],
): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ValidationError(field, `must be an object, got ${describeValue(v)}`);
  }
  for (const k of Reflect.ownKeys(v)) {
    if (typeof k !== "string" || !allowed.includes(k)) {
      throw new ValidationError(
        `${field}.${String(k)}`,
        `unknown option; valid options are ${allowed.join(", ")}`,
      );
    }
  }
  return v as Record<string, unknown>;
}

/** {@link checkObject}, or an empty object when `v` is undefined (no options given). */
export function checkOptionalObject(
  v: unknown,
  field: string,
  allowed: readonly string[],
): Record<string, unknown> {
  return v === undefined ? {} : checkObject(v, field, allowed);
}

/** An integer in `[min, max]`, or `fallback` when undefined. */
export function intIn(v: unknown, field: string, min: number, max: number, fallback: number) {
  return numberIn(v, field, min, max, fallback, true);
}

/** A finite number (an integer when `integer`) in `[min, max]`, or `fallback` when undefined. */
function numberIn(
  v: unknown,
  field: string,
  min: number,
  max: number,
  fallback: number,
  integer = false,
): number {
  if (v === undefined) return fallback;
  const ok = typeof v === "number" && (integer ? Number.isInteger(v) : Number.isFinite(v));
  if (!ok || (v as number) < min || (v as number) > max) {
    throw new ValidationError(
      field,
      `must be ${integer ? "an integer" : "a number"} from ${min} to ${max}, got ${
        describeValue(v)
      }`,
    );
  }
  return v as number;
}

/** A boolean, or `fallback` when undefined. */
export function boolOr(v: unknown, field: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") {
    throw new ValidationError(field, `must be true or false, got ${describeValue(v)}`);
  }
  return v;
}

const QUEUE_KEYS = [
  "maxWorkers",
  "pollIntervalMs",
  "deadlineMs",
  "claimBatchSize",
  "prefetch",
  "priorityAgingMs",
  "rateLimit",
  "minWorkers",
  "weight",
] as const satisfies readonly (keyof QueueConfig)[];

const RATE_LIMIT_KEYS = ["perSecond", "burst"] as const satisfies readonly (keyof RateLimit)[];

/** Limits of queue options; documented on {@link QueueConfig}. */
export const QUEUE_LIMITS = {
  maxWorkers: 10_000,
  prefetch: 10_000,
  claimBatchSize: 4096,
  weight: 10_000,
  rateLimitPerSecond: { min: 0.001, max: 1_000_000 },
  rateLimitBurst: 1_000_000,
} as const;

function resolveRateLimit(v: unknown, field: string): ResolvedQueueConfig["rateLimit"] {
  if (v === undefined) return null;
  const rl = checkObject(v, field, RATE_LIMIT_KEYS);
  if (rl.perSecond === undefined) throw new ValidationError(`${field}.perSecond`, "is required");
  const { min, max } = QUEUE_LIMITS.rateLimitPerSecond;
  const perSecond = numberIn(rl.perSecond, `${field}.perSecond`, min, max, 0);
  const burst = intIn(
    rl.burst,
    `${field}.burst`,
    1,
    QUEUE_LIMITS.rateLimitBurst,
    Math.max(1, Math.ceil(perSecond)),
  );
  return { perSecond, burst };
}

/** Validate one queue's config and apply its defaults. */
export function resolveQueue(name: string, c: unknown): ResolvedQueueConfig {
  const f = (k: string) => `queues.${name}.${k}`;
  const cfg = checkObject(c, `queues.${name}`, QUEUE_KEYS);
  return {
    maxWorkers: intIn(cfg.maxWorkers, f("maxWorkers"), 1, QUEUE_LIMITS.maxWorkers, 50),
    pollIntervalMs: intIn(cfg.pollIntervalMs, f("pollIntervalMs"), 10, HOUR_MS, 200),
    deadlineMs: intIn(cfg.deadlineMs, f("deadlineMs"), 0, DAY_MS, 300_000),
    claimBatchSize: intIn(
      cfg.claimBatchSize,
      f("claimBatchSize"),
      1,
      QUEUE_LIMITS.claimBatchSize,
      512,
    ),
    prefetch: intIn(cfg.prefetch, f("prefetch"), 0, QUEUE_LIMITS.prefetch, 0),
    priorityAgingMs: intIn(cfg.priorityAgingMs, f("priorityAgingMs"), 0, DAY_MS, 60_000),
    rateLimit: resolveRateLimit(cfg.rateLimit, f("rateLimit")),
    minWorkers: intIn(cfg.minWorkers, f("minWorkers"), 0, QUEUE_LIMITS.maxWorkers, 0),
    weight: resolveWeight(cfg.weight, f("weight")),
  };
}

function resolveWeight(v: unknown, field: string): number {
  if (v === 0) {
    throw new ValidationError(field, "must be at least 1: a weight of 0 never gets a permit");
  }
  return intIn(v, field, 1, QUEUE_LIMITS.weight, 1);
}

/** Resolved {@link HeartbeatOptions}. */
export type ResolvedHeartbeat = Required<HeartbeatOptions>;

/** Defaults of {@link HeartbeatOptions}. */
export const DEFAULT_HEARTBEAT: ResolvedHeartbeat = { intervalMs: 30_000, stalenessMs: 90_000 };

/** Validate heartbeat options (integers from 1 ms to 1 day) and apply defaults. */
export function resolveHeartbeat(input: unknown): ResolvedHeartbeat {
  const o = checkOptionalObject(input, "heartbeat", ["intervalMs", "stalenessMs"]);
  const d = DEFAULT_HEARTBEAT;
  const out = {
    intervalMs: intIn(o.intervalMs, "heartbeat.intervalMs", 1, DAY_MS, d.intervalMs),
    stalenessMs: intIn(o.stalenessMs, "heartbeat.stalenessMs", 1, DAY_MS, d.stalenessMs),
  };
  if (out.stalenessMs < 3 * out.intervalMs) {
    throw new ValidationError(
      "heartbeat.stalenessMs",
      "must be at least 3 × heartbeat.intervalMs, or live attempts would be rescued",
    );
  }
  return out;
}

/** Resolved {@link NotifierOptions}. */
export type ResolvedNotifier = Required<NotifierOptions>;

/** Validate notifier options and apply defaults (check every 10 s, at most every hour). */
export function resolveNotifier(input: unknown): ResolvedNotifier {
  const o = checkOptionalObject(input, "notifier", ["checkIntervalMs"]);
  return {
    checkIntervalMs: intIn(o.checkIntervalMs, "notifier.checkIntervalMs", 1, HOUR_MS, 10_000),
  };
}

/** Default of `ShutdownOptions.timeoutMs`. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

/** Validate shutdown options: `undefined` means defaults; `null` and unknown keys are errors. */
export function resolveShutdown(options: unknown): { timeoutMs: number } {
  if (options === undefined) return { timeoutMs: DEFAULT_SHUTDOWN_TIMEOUT_MS };
  const o = checkObject(options, "shutdown options", ["timeoutMs"]);
  return {
    timeoutMs: numberIn(o.timeoutMs, "timeoutMs", 0, DAY_MS, DEFAULT_SHUTDOWN_TIMEOUT_MS),
  };
}

/** Every event {@link ClientEvents} defines; the Record type keeps the list complete. */
const EVENT_NAMES: Record<keyof ClientEvents, true> = {
  ...OUTCOME_EVENT_NAMES,
  rescued: true,
  stale: true,
  error: true,
  waitingForCallback: true,
  callbackResumed: true,
  callbackResolved: true,
};

/** Require a known event name. */
export function checkEventName(event: unknown): keyof ClientEvents {
  if (typeof event !== "string" || !Object.hasOwn(EVENT_NAMES, event)) {
    throw new ValidationError(
      "event",
      `unknown event ${describeValue(event)}; valid events are ${
        Object.keys(EVENT_NAMES).join(", ")
      }`,
    );
  }
  return event as keyof ClientEvents;
}
