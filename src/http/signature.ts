/**
 * Callback signatures (Algorithm S): the `X-Awa-Signature` header is the lowercase hex of the
 * BLAKE3 keyed hash (32-byte key, 32-byte output) of the callback id's UTF-8 bytes. The body is
 * not signed: the signature proves the sender was given this callback id by a holder of the
 * secret, which is what authorises resolving it. docs/http.md describes it for other languages.
 * @module
 */
import { blake3 } from "@noble/hashes/blake3.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import { ValidationError } from "../errors.ts";
import { describe } from "../validate.ts";

/** Length of the secret key, in bytes. */
export const SECRET_BYTES = 32;

/** A callback secret: 32 raw bytes, or 64 hex characters (either case) spelling them. */
export type CallbackSecret = Uint8Array | string;

const HEX_64 = /^[0-9a-fA-F]{64}$/;

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The 32 key bytes of `secret`, or a ValidationError naming `field`. */
export function secretKey(secret: unknown, field = "secret"): Uint8Array {
  if (secret instanceof Uint8Array) {
    if (secret.length === SECRET_BYTES) return new Uint8Array(secret);
    throw new ValidationError(field, `must be exactly 32 bytes, got ${secret.length}`);
  }
  if (typeof secret === "string") {
    if (HEX_64.test(secret)) return hexBytes(secret);
    throw new ValidationError(
      field,
      `must be 64 hex characters (32 bytes), got a string of ${secret.length} characters` +
        (secret.length === 64 ? " that is not hex" : ""),
    );
  }
  throw new ValidationError(
    field,
    `must be a Uint8Array of 32 bytes or a string of 64 hex characters, got ${describe(secret)}`,
  );
}

function checkId(callbackId: unknown): string {
  if (typeof callbackId !== "string" || callbackId === "") {
    throw new ValidationError(
      "callbackId",
      `must be a non-empty string, got ${describe(callbackId)}`,
    );
  }
  return callbackId;
}

/** The signature of an already checked key and id. */
export function signWithKey(key: Uint8Array, callbackId: string): string {
  return bytesToHex(blake3(utf8ToBytes(callbackId), { key }));
}

/**
 * The `X-Awa-Signature` value for `callbackId`: 64 lowercase hex characters. `secret` is 32 raw
 * bytes or 64 hex characters; a malformed secret or an empty id throws a `ValidationError`.
 */
export function signCallbackId(secret: CallbackSecret, callbackId: string): string {
  return signWithKey(secretKey(secret), checkId(callbackId));
}

/** True when `header` is exactly the signature of `callbackId` under an already checked key. */
export function verifyWithKey(
  key: Uint8Array,
  callbackId: string,
  header: string | null | undefined,
): boolean {
  if (typeof header !== "string" || !HEX_64.test(header)) return false;
  const given = hexBytes(header);
  const expected = blake3(utf8ToBytes(callbackId), { key });
  // Every byte is compared whatever the earlier ones held: the time taken says nothing about
  // how much of a forged signature was right.
  let diff = 0;
  for (let i = 0; i < SECRET_BYTES; i++) diff |= given[i]! ^ expected[i]!;
  return diff === 0;
}

/**
 * Whether `header` (the `X-Awa-Signature` value, possibly missing) signs `callbackId` under
 * `secret`. A missing or malformed header (not 64 hex characters) is false; the comparison
 * takes the same time wherever the bytes differ. A malformed secret throws a `ValidationError`.
 */
export function verifyCallbackSignature(
  secret: CallbackSecret,
  callbackId: string,
  header: string | null | undefined,
): boolean {
  const key = secretKey(secret);
  if (typeof callbackId !== "string") return false;
  return verifyWithKey(key, callbackId, header);
}
