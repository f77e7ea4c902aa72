/**
 * The package version, in one place. `tests/version_test.ts` keeps `deno.json` and
 * `package.json` in step with it.
 * @module
 */

/** Version of this @awa/awa release; runtimes record it in `awa.runtime_instances`. */
export const VERSION = "0.1.0";
