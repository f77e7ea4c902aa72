/**
 * Runs every example under examples/: each directory with a package.json is copied to a
 * temporary directory, gets the packed npm package and its own dependencies installed with
 * `npm install`, and runs its `npm start` with DATABASE_URL set to a fresh database. Each
 * example is one counted check; the last line is `examples: N passed, N failed`.
 *
 *   deno run -A dev/run_examples.ts [--tarball path/to/awa-awa-x.y.z.tgz]
 *
 * `bun` and `deno` in a start script run the pinned versions (through npx). Database as in
 * dev/consumer_test.ts.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import * as support from "./package_support.ts";

const EXAMPLES = path.resolve(import.meta.dirname!, "..", "examples");

/** Example directories: those with a package.json. */
function exampleDirs(): string[] {
  return fs.readdirSync(EXAMPLES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(EXAMPLES, d.name, "package.json")))
    .map((d) => d.name)
    .sort();
}

/** A directory of `bun` and `deno` commands that run the pinned versions. */
function shims(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const name of ["bun", "deno"] as const) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `#!/bin/sh\nexec ${support.RUNTIMES[name].join(" ")} "$@"\n`);
    fs.chmodSync(file, 0o755);
  }
  return dir;
}

async function runExample(
  name: string,
  tgz: string,
  work: string,
  serverUrl: string,
  bin: string,
): Promise<boolean | string> {
  const dir = path.join(work, name);
  fs.cpSync(path.join(EXAMPLES, name), dir, {
    recursive: true,
    filter: (src) => path.basename(src) !== "node_modules",
  });
  const install = await support.capture("npm", ["install", "--no-audit", "--no-fund", tgz], dir);
  if (install.code !== 0) return support.failure(install);
  const db = await support.freshDatabase(serverUrl, `awa_example_${name}`);
  try {
    const env = { DATABASE_URL: db.url, PATH: `${bin}:${process.env.PATH ?? ""}` };
    const r = await support.capture("npm", ["start", "--silent"], dir, env, 180_000);
    if (r.stdout.trim()) console.log(r.stdout.trimEnd().replace(/^/gm, "     "));
    return r.code === 0 ? true : support.failure(r);
  } finally {
    await db.drop();
  }
}

async function main(): Promise<number> {
  const tally = new support.Tally("examples");
  const work = support.tempDir("awa-examples-");
  const server = await support.databaseServer();
  try {
    const tgz = await support.tarball(process.argv.slice(2), work);
    const bin = shims(path.join(work, ".bin"));
    for (const name of exampleDirs()) {
      await tally.check(`example ${name}`, () => runExample(name, tgz.path, work, server.url, bin));
    }
  } finally {
    await server.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return tally.finish();
}

if (import.meta.main) process.exit(await main());
