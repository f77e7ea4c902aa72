/**
 * Prisma ORM (tested with 7.10, using a driver adapter such as `@prisma/adapter-pg`): a
 * `PrismaClient` or the transaction client of an interactive `$transaction`.
 * @module
 */
import type { AdaptedDb } from "../db/adapted.ts";
import { adapted, requireMethods, rowsOf, withSqlState } from "./shape.ts";

/** The part of a `PrismaClient` or interactive transaction client the adapter uses. */
export interface PrismaHandle {
  /** Prisma's `$queryRawUnsafe`: one statement with `$1` parameters. */
  $queryRawUnsafe(query: string, ...values: never[]): PromiseLike<unknown>;
  /** On the client: open an interactive transaction. */
  $transaction?: unknown;
  /** On the client only: a transaction client has none, which is how the two are told apart. */
  $disconnect?: unknown;
}

type PrismaTransaction = <T>(fn: (tx: PrismaHandle) => Promise<T>) => Promise<T>;

/** The Postgres error fields a driver adapter reports under Prisma's P2010 wrapper. */
interface DriverAdapterCause {
  originalCode?: unknown;
  originalMessage?: unknown;
  detail?: unknown;
  constraint?: { index?: unknown };
}

/**
 * A server error with its SQLSTATE in `code`, as the other drivers report it. Prisma wraps a
 * failed raw query in `PrismaClientKnownRequestError` (code P2010) and keeps the server's own
 * code and message in `meta.driverAdapterError.cause`.
 */
function serverError(err: unknown): unknown {
  const cause = (err as { meta?: { driverAdapterError?: { cause?: DriverAdapterCause } } })
    ?.meta?.driverAdapterError?.cause;
  if (typeof cause?.originalCode !== "string") return err;
  return withSqlState(err, {
    message: cause.originalMessage,
    code: cause.originalCode,
    detail: cause.detail,
    constraint: cause.constraint?.index,
  });
}

/**
 * Wrap a `PrismaClient` or an interactive transaction client for Awa's producer functions and
 * `migrate`. Inside `prisma.$transaction(async (tx) => …)` the jobs commit or roll back with
 * `tx`; on the client every multi-statement operation runs in a `$transaction` of its own (with
 * the client's default transaction timeout). Prisma has no COPY, so `insertMany` writes each
 * batch with one multi-row INSERT. Throws `ValidationError` for anything else.
 */
export function fromPrisma(prisma: PrismaHandle): AdaptedDb {
  const h = requireMethods(
    "fromPrisma",
    "a PrismaClient or an interactive transaction client",
    prisma,
    [
      "$queryRawUnsafe",
    ],
  ) as unknown as PrismaHandle;
  const inTransaction = typeof h.$disconnect !== "function";
  if (!inTransaction) {
    requireMethods("fromPrisma", "a PrismaClient or an interactive transaction client", prisma, [
      "$transaction",
    ]);
  }
  const client = h as { $transaction: PrismaTransaction };
  return adapted(
    "prisma",
    h,
    async (text, params) => {
      try {
        return rowsOf(await h.$queryRawUnsafe(text, ...params as never[]));
      } catch (err) {
        throw serverError(err);
      }
    },
    inTransaction ? null : (fn) => client.$transaction((tx) => fn(fromPrisma(tx))),
  );
}
