/**
 * The storage seam. Every statement that names Awa's SQL objects is written in `src/storage/`
 * and runs through {@link Store.run} under the name of its operation: the storage function's
 * TypeScript name, which is the SQL function's name in camelCase (`claimBatch` runs
 * `awa.claim_batch`). Instrumentation (spans, metrics) wraps this one method.
 *
 * Statements name the schema with the explicit token {@link SCHEMA_TOKEN} (`{{schema}}.claim_batch`),
 * replaced by the validated schema name; nothing else in the text is rewritten, so string
 * literals that mention `awa.` stay as written.
 *
 * Which operation lives in which file: see `src/storage/README.md`.
 * @module
 */
import type { Executor } from "../db/executor.ts";

/** Placeholder for the schema name in storage statements and SQL files. */
export const SCHEMA_TOKEN = "{{schema}}";

const rendered = new Map<string, Map<string, string>>();

/** The memo of rendered statements of one schema. */
function renderedIn(schema: string): Map<string, string> {
  let bySchema = rendered.get(schema);
  if (bySchema === undefined) rendered.set(schema, bySchema = new Map());
  return bySchema;
}

function renderWith(memo: Map<string, string>, text: string, schema: string): string {
  let out = memo.get(text);
  if (out === undefined) {
    out = text.replaceAll(SCHEMA_TOKEN, schema);
    memo.set(text, out);
  }
  return out;
}

/** `text` with {@link SCHEMA_TOKEN} replaced by `schema` (a validated identifier), memoised. */
export function render(text: string, schema: string): string {
  return renderWith(renderedIn(schema), text, schema);
}

/** A database executor bound to one Awa schema. */
export interface Store {
  readonly ex: Executor;
  /** Validated schema name. */
  readonly schema: string;
  /** Run one statement of operation `op`; returns its rows. */
  run<T = Record<string, unknown>>(op: string, text: string, params?: unknown[]): Promise<T[]>;
  /** Run `fn` atomically (the caller's transaction if there is one) as operation `op`. */
  atomic<T>(op: string, fn: (store: Store) => Promise<T>): Promise<T>;
  /** COPY FROM STDIN of operation `op`; throws when the driver cannot COPY (see `canCopy`). */
  copyIn(op: string, statement: string, lines: Iterable<string>): Promise<void>;
  /** Whether this executor can COPY. */
  readonly canCopy: boolean;
}

/** Bind `ex` to `schema` (already validated with `checkSchema`). */
export function storeOf(ex: Executor, schema: string): Store {
  // Looked up once per store: a hot statement then costs one map lookup to render.
  const memo = renderedIn(schema);
  const store: Store = {
    ex,
    schema,
    run: <T>(_op: string, text: string, params?: unknown[]) =>
      ex.query<T>(renderWith(memo, text, schema), params),
    atomic: <T>(_op: string, fn: (s: Store) => Promise<T>) =>
      ex.atomic((tx) => fn(tx === ex ? store : storeOf(tx, schema))),
    copyIn: (_op, statement, lines) => {
      if (!ex.copyIn) throw new Error("this database handle cannot COPY");
      return ex.copyIn(renderWith(memo, statement, schema), lines);
    },
    get canCopy() {
      return ex.copyIn !== undefined;
    },
  };
  return store;
}
