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
  up(db: Db, context: MigrationContext): Promise<void>;
  down(db: Db, context: MigrationContext): Promise<void>;
}

/** What a long migration reports through: each call logs and extends the runner's lock. */
export interface MigrationContext {
  progress(message: string): Promise<void>;
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

/** Drops a collection if present (code 26, NamespaceNotFound, is not an error here; the embedded store sends only its message). */
export async function dropCollectionIfExists(db: Db, name: string): Promise<void> {
  try {
    await db.dropCollection(name);
  } catch (error) {
    const { code, message } = error as { code?: number; message?: string };
    if (code !== 26 && message !== 'ns not found') throw error;
  }
}

/** An index a migration owns; `name` is what `down` drops it by. */
export interface IndexSpec {
  collection: string;
  key: Record<string, 1 | -1>;
  name: string;
  unique?: boolean;
  /** Leaves documents without the fields out of the index (so a unique index binds only those that have them). */
  sparse?: boolean;
}

/** Creates each index; creating one that already exists with the same definition is a no-op. */
export async function createIndexes(db: Db, indexes: readonly IndexSpec[]): Promise<void> {
  for (const index of indexes) {
    await db.collection(index.collection).createIndex(index.key, {
      name: index.name,
      unique: index.unique ?? false,
      ...(index.sparse && { sparse: true }),
    });
  }
}

export async function dropIndexes(db: Db, indexes: readonly IndexSpec[]): Promise<void> {
  for (const index of indexes) {
    await dropIndexIfExists(db, index.collection, index.name);
  }
}
