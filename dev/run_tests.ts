/**
 * `deno task test`: runs the suite against DATABASE_URL when it is set, otherwise against a
 * fresh embedded PostgreSQL that is stopped at exit, on Ctrl-C and when tests fail.
 * Extra arguments are passed to `deno test` (e.g. a file path or `--filter name`).
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { type EmbeddedServer, startEmbeddedPostgres } from "./embedded_postgres.ts";

let server: EmbeddedServer | undefined;
let url = process.env.DATABASE_URL;
if (!url) {
  server = await startEmbeddedPostgres();
  url = server.url;
  console.log(`test database: embedded PostgreSQL on port ${server.port}`);
} else {
  console.log(`test database: DATABASE_URL (${url.replace(/:[^:@/]*@/, ":***@")})`);
}

const args = process.argv.slice(2);
const child = spawn(
  Deno.execPath(),
  ["test", "-A", "--parallel", ...(args.length ? args : ["tests/"])],
  { stdio: "inherit", env: { ...process.env, DATABASE_URL: url, AWA_TEST_SHARED_SERVER: "1" } },
);

const stop = async () => {
  if (server) await server.stop();
};
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    child.kill(sig);
  });
}
const code: number = await new Promise((resolve) => {
  child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0)));
});
await stop();
process.exit(code);
