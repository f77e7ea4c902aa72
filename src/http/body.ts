/**
 * Reading HTTP bodies with a size cap, so neither a chatty function nor a hostile caller can
 * make this process buffer an unbounded body.
 * @module
 */

/** What {@link readCapped} read: at most `maxBytes` bytes, and whether more followed. */
export interface CappedBody {
  bytes: Uint8Array;
  /** True when the body was longer than the cap (the rest was not read). */
  over: boolean;
}

/** Read at most `maxBytes` of `stream`, then cancel it; null reads as empty. */
export async function readCapped(
  stream: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<CappedBody> {
  if (stream === null) return { bytes: new Uint8Array(0), over: false };
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let over = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = maxBytes - size;
      if (value.length > room) {
        chunks.push(value.subarray(0, room));
        size += room;
        over = true;
        break;
      }
      chunks.push(value);
      size += value.length;
    }
  } finally {
    if (over) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return { bytes, over };
}

/** UTF-8 text of `bytes`; a character cut by a cap becomes U+FFFD instead of throwing. */
export function textOf(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}
