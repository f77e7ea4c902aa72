/**
 * A second process for the companion tests (not a test file). Prints one JSON line per event.
 *
 *   child.ts subscribe <url> <channel>         prints {ready} then {msg} per message
 *   child.ts getOrSet <url> <key,key,…> <n>    prints {ready}, waits for "go" on stdin, runs n
 *                                               concurrent getOrSet per key, prints {values}
 *
 * Either exits when its stdin closes (subscribe) or when done (getOrSet). getOrSet's loader
 * records each call in the table loader_calls, so the parent counts loads across processes.
 */
import postgres from "postgres";
import { Cache, defineChannel, subscribe } from "../../mod.ts";

const [mode, url, arg, count] = Deno.args;
const sql = postgres(url, { max: 4, onnotice() {} });
const print = (line: unknown) => console.log(JSON.stringify(line));

async function stdinLines(onLine: (line: string) => void): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of Deno.stdin.readable) {
    buf += dec.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, nl).trim());
      buf = buf.slice(nl + 1);
    }
  }
}

if (mode === "subscribe") {
  const channel = defineChannel<unknown>(arg);
  const sub = await subscribe(sql, channel, (msg) => print({ msg }));
  print({ ready: true });
  await stdinLines(() => {});
  await sub.unsubscribe();
} else if (mode === "getOrSet") {
  const cache = new Cache<{ key: string; by: number }>(sql, { namespace: "mp", ttlMs: 60_000 });
  const keys = arg.split(",");
  let go!: () => void;
  const started = new Promise<void>((r) => go = r);
  const reading = stdinLines((line) => line === "go" && go());
  print({ ready: true });
  await started;
  const values = await Promise.all(
    keys.flatMap((key) =>
      Array.from({ length: Number(count) }, () =>
        cache.getOrSet(key, {}, async () => {
          await sql`INSERT INTO loader_calls (key, pid) VALUES (${key}, ${Deno.pid})`;
          await new Promise((r) => setTimeout(r, 100));
          return { key, by: Deno.pid };
        }))
    ),
  );
  print({ values });
  await reading;
}
await sql.end();
