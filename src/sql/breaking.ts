/**
 * The explicit part of changing SQL (docs/migrations.md): what must be dropped because
 * `CREATE OR REPLACE` cannot change it, and the oldest runtime the installed SQL still serves.
 * Everything else about a function or view is its file under `src/sql/`, re-applied by
 * `migrate()` when the file's text changes.
 * @module
 */

/**
 * An object to drop before a file is (re)applied: `CREATE OR REPLACE` cannot change a
 * function's argument types, argument names, defaults or result type, nor a view's existing
 * columns. `what` is the identity used by `DROP`, schema written as `{{schema}}`.
 */
export interface Drop {
  /** The file (path under src/sql/ without `.sql`) whose new text needs the drop. */
  file: string;
  kind: "function" | "view";
  /** `{{schema}}.name(arg types)` for a function, `{{schema}}.name` for a view. */
  what: string;
}

/**
 * Objects dropped when their file is re-applied (or, when the file no longer exists, on every
 * migrate while they are still there). Append only: a database may be any number of releases
 * behind, so an entry stays as long as the file it names. A dropped identity is never reused
 * by another file.
 */
export const DROPS: readonly Drop[] = [];

/**
 * The oldest @awa/awa whose runtime and producers work with the SQL this release installs.
 * Raise it to this release's version when a function file changes in a way older callers
 * cannot use (a result column they read is renamed, an argument they pass means something
 * else); `migrate()` records it and older runtimes then refuse with `RuntimeTooOldError`.
 */
export const MIN_RUNTIME_VERSION = "0.1.0";
