import assert from "node:assert/strict";
import { VERSION } from "../mod.ts";

Deno.test("VERSION matches deno.json and package.json", async () => {
  const deno = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const npm = JSON.parse(await Deno.readTextFile(new URL("../package.json", import.meta.url)));
  assert.equal(deno.version, VERSION);
  assert.equal(npm.version, VERSION);
});
