/**
 * Prisma 7 with `@prisma/adapter-pg` (no query engine binary): a `PrismaClient` and the client
 * of an interactive `$transaction`. The client is generated from `prisma/schema.prisma` into
 * `prisma/generated/` (not committed) when this file loads. `prisma generate` needs no engine,
 * but the CLI looks for a schema-engine binary first and tries to download one; pointing
 * PRISMA_SCHEMA_ENGINE_BINARY at any executable skips that.
 */
import { PrismaPg } from "@prisma/adapter-pg";
import { fromPrisma, type PrismaHandle } from "../../adapters.ts";
import { testDatabase } from "../support/db.ts";
import { adapterContract } from "./contract.ts";

const dir = new URL("./prisma/", import.meta.url);
const generate = await new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", "npm:prisma@7.10.0", "generate", "--schema", "schema.prisma"],
  cwd: dir,
  env: { PRISMA_SCHEMA_ENGINE_BINARY: "/bin/true", PRISMA_HIDE_UPDATE_MESSAGE: "1" },
  stdout: "piped",
  stderr: "piped",
}).output();
if (!generate.success) {
  throw new Error(`prisma generate failed:\n${new TextDecoder().decode(generate.stderr)}`);
}

/** The generated client's constructor, as far as this test uses it. */
type PrismaClient = PrismaHandle & {
  $transaction<T>(fn: (tx: PrismaHandle) => Promise<T>): Promise<T>;
  $on(event: "query", fn: () => void): void;
  $disconnect(): Promise<void>;
};
const generated = new URL("./generated/client.ts", dir).href;
const { PrismaClient } = await import(generated) as {
  PrismaClient: new (options: unknown) => PrismaClient;
};

const t = await testDatabase("adapter_prisma");
const prisma = new PrismaClient({
  adapter: new PrismaPg({ connectionString: t.url, max: 4 }),
  log: [{ emit: "event", level: "query" }],
});
let statements = 0;
prisma.$on("query", () => {
  statements++;
});

adapterContract({
  name: "prisma",
  t,
  db: () => fromPrisma(prisma),
  inTransaction: (fn) => prisma.$transaction((tx) => fn(fromPrisma(tx))),
  statements: () => statements,
}, async () => {
  await prisma.$disconnect();
  await t.close();
});
