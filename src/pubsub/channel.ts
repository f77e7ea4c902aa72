/**
 * Typed pub/sub channels: the definition shared by publishers and subscribers, its name rules,
 * and the payload checks both sides run.
 * @module
 */
import { PayloadTooLargeError, ValidationError } from "../errors.ts";
import { MAX_PAYLOAD_BYTES } from "../db/notifier.ts";
import { checkKind } from "../job.ts";
import { checkJson, checkOptions, describe } from "../validate.ts";

/**
 * Longest channel name, in characters: `awa:#` plus the name fits a 63-byte NOTIFY channel.
 * Names otherwise follow the job-kind rules: letters, digits and `_ . : -`, not starting with
 * `. : -`.
 */
export const MAX_CHANNEL_NAME_LENGTH = 58;

/** Largest payload {@link publish} sends, in UTF-8 bytes of its JSON (NOTIFY's own limit). */
export const MAX_PUBLISH_BYTES: number = MAX_PAYLOAD_BYTES;

/**
 * Prefix of pub/sub topics in the notifier: `#` is outside the queue-name alphabet, so a
 * channel never shares a Postgres channel with a queue's wakeups or Awa's own notices.
 */
const TOPIC_PREFIX = "#";

/**
 * Validator of payloads; throw (any error) to reject. Runs before publishing (the publish then
 * fails with a `ValidationError`) and on delivery (the message is dropped and reported to
 * `onError`). Must be synchronous.
 */
export type PayloadValidator<P> = (payload: P) => void;

/** Options of {@link defineChannel}. */
export interface ChannelOptions<P> {
  /** Optional runtime check of every payload, on both sides. */
  validate?: PayloadValidator<P>;
}

/** A named channel with its payload type; shared by {@link publish} and {@link subscribe}. */
export interface ChannelDefinition<P> {
  /** The channel name, as given to {@link defineChannel}. */
  readonly name: string;
  /** The payload validator, if any. */
  readonly validate: PayloadValidator<P> | undefined;
  /** Phantom field carrying the payload type; never set at runtime. */
  readonly __payload?: P;
}

/** Extract the payload type of a channel definition. */
export type PayloadOf<C> = C extends ChannelDefinition<infer P> ? P : never;

const OPTION_KEYS: ReadonlySet<string> = new Set(["validate"]);
const encoder = new TextEncoder();

/** Validate a channel name: a job-kind-like name of at most 58 characters. */
export function checkChannelName(name: unknown, field = "name"): string {
  checkKind(name, field);
  if ((name as string).length > MAX_CHANNEL_NAME_LENGTH) {
    throw new ValidationError(
      field,
      `must be at most ${MAX_CHANNEL_NAME_LENGTH} characters (it names a NOTIFY channel), ` +
        `got ${describe(name)}`,
    );
  }
  return name as string;
}

/**
 * Define a channel once; its payload type then flows into {@link publish} and
 * {@link subscribe}. Throws `ValidationError` for a bad name, unknown options or an `async`
 * validator.
 */
export function defineChannel<P>(
  name: string,
  options: ChannelOptions<P> = {},
): ChannelDefinition<P> {
  checkChannelName(name);
  const o = checkOptions<ChannelOptions<P>>(options, "options", OPTION_KEYS);
  if (o.validate !== undefined) {
    if (typeof o.validate !== "function") {
      throw new ValidationError("options.validate", "must be a function");
    }
    if (o.validate.constructor?.name === "AsyncFunction") {
      throw new ValidationError("options.validate", "must be synchronous");
    }
  }
  return Object.freeze({ name, validate: o.validate });
}

/** Check that `channel` is a definition made by {@link defineChannel}. */
export function checkChannel<P>(channel: unknown, field = "channel"): ChannelDefinition<P> {
  const c = channel as Partial<ChannelDefinition<P>> | null;
  if (typeof c !== "object" || c === null || typeof c.name !== "string") {
    throw new ValidationError(
      field,
      `must be a channel made by defineChannel(), got ${describe(channel)}`,
    );
  }
  checkChannelName(c.name, `${field}.name`);
  return c as ChannelDefinition<P>;
}

/** The notifier topic of a channel. */
export function topicOf(channel: { readonly name: string }): string {
  return TOPIC_PREFIX + channel.name;
}

/** Run the channel's validator; a throw or a returned promise becomes a `ValidationError`. */
export function runPayloadValidator<P>(channel: ChannelDefinition<P>, payload: P): void {
  if (channel.validate === undefined) return;
  let out: unknown;
  try {
    out = channel.validate(payload);
  } catch (err) {
    const msg = err instanceof Error ? err.message : describe(err);
    throw new ValidationError("payload", msg, { cause: err });
  }
  if (typeof (out as PromiseLike<unknown>)?.then === "function") {
    Promise.resolve(out).catch(() => {});
    throw new ValidationError("payload", "the channel's validator returned a promise");
  }
}

/**
 * The JSON text of a payload to publish: validated (JSON, the channel's validator) and within
 * {@link MAX_PUBLISH_BYTES}; throws `ValidationError` or `PayloadTooLargeError`.
 */
export function encodePayload<P>(channel: ChannelDefinition<P>, payload: P): string {
  if (payload === undefined) throw new ValidationError("payload", "undefined is not JSON");
  const text = checkJson(payload, "payload");
  runPayloadValidator(channel, payload);
  const bytes = encoder.encode(text).length;
  if (bytes > MAX_PUBLISH_BYTES) {
    throw new PayloadTooLargeError(
      `the payload for channel "${channel.name}"`,
      bytes,
      MAX_PUBLISH_BYTES,
      "publish a key and keep the data in a table (NOTIFY carries at most 7999 bytes)",
    );
  }
  return text;
}
