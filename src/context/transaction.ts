import type { Db, Tx } from '../db/client.js';
import { clientDataError } from '../errors/database.js';

/** Runs a write transaction, mapping data errors the database raises about values to 4xx. */
export async function writeTx<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  try {
    return await db.transaction(fn);
  } catch (err) {
    throw clientDataError(err) ?? err;
  }
}
