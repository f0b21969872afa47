import type mongoose from 'mongoose';

export type Db = mongoose.mongo.Db;

/**
 * One schema change. `up` and `down` must be idempotent: a migration interrupted half-way is
 * simply run again.
 */
export interface Migration {
  /** Sortable and unique, e.g. `0001-create-chat-collections`. */
  id: string;
  description: string;
  up(db: Db): Promise<void>;
  down(db: Db): Promise<void>;
}

/** Creates a collection unless it exists (code 48, NamespaceExists, is not an error here). */
export async function ensureCollection(db: Db, name: string): Promise<void> {
  const existing = await db.listCollections({ name }, { nameOnly: true }).toArray();
  if (existing.length > 0) return;
  try {
    await db.createCollection(name);
  } catch (error) {
    if ((error as { code?: number }).code !== 48) throw error;
  }
}

/** Drops an index if present (code 27, IndexNotFound, is not an error here). */
export async function dropIndexIfExists(db: Db, collection: string, name: string): Promise<void> {
  try {
    await db.collection(collection).dropIndex(name);
  } catch (error) {
    const code = (error as { code?: number }).code;
    if (code !== 27 && code !== 26) throw error;
  }
}
