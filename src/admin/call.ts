/**
 * How every admin call reaches the database: on the caller's `Db` (their transaction too),
 * after the schema check, with driver errors mapped to typed ones.
 * @module
 */
import { toDatabaseError } from "../db/classify.ts";
import { type Db, toExecutor } from "../db/executor.ts";
import { mapMissingSchema, requireSchema } from "../migrate.ts";
import { type Store, storeOf } from "../storage/store.ts";

/**
 * Run `fn` on a store of `db` bound to `schema` (validated) once the schema is verified. A
 * missing privilege becomes `PermissionDeniedError`, a vanished schema `SchemaMissingError`,
 * anything else from the driver a `DatabaseError` (after `mapError`, which may turn it into a
 * contract error first).
 */
export async function adminCall<T>(
  db: Db,
  schema: string,
  operation: string,
  fn: (store: Store) => Promise<T>,
  mapError: (err: unknown) => unknown = (err) => err,
): Promise<T> {
  const ex = toExecutor(db);
  try {
    await requireSchema(ex, schema);
    return await fn(storeOf(ex, schema));
  } catch (err) {
    throw toDatabaseError(mapError(mapMissingSchema(err, ex, schema)), operation);
  }
}
