import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Db, Migration, MigrationContext } from './migration.js';

export const CHANGELOG_COLLECTION = 'migrations_changelog';
export const LOCK_COLLECTION = 'migrations_lock';
const LOCK_ID = 'migrations';

export interface MigrationStatus {
  id: string;
  description: string;
  appliedAt: Date | null;
}

export interface MigrationRunnerOptions {
  /** How long a lock holder may run before another instance may take the lock over. */
  lockTtlMs?: number;
  /** How long to wait for another instance's run to finish. */
  lockWaitMs?: number;
  log?: (message: string) => void;
}

interface ChangelogEntry {
  _id: string;
  description: string;
  appliedAt: Date;
}

interface LockEntry {
  _id: string;
  owner: string;
  expiresAt: Date;
}

/**
 * Applies migrations in id order and records each in `migrations_changelog`, so re-runs are
 * no-ops. A lease in `migrations_lock` keeps two instances booting at once from running the same
 * migration concurrently; a lease left by a crashed instance expires.
 */
export class MigrationRunner {
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID()}`;
  private readonly lockTtlMs: number;
  private readonly lockWaitMs: number;
  private readonly log: (message: string) => void;

  constructor(
    private readonly db: Db,
    private readonly migrations: readonly Migration[],
    options: MigrationRunnerOptions = {},
  ) {
    const ids = migrations.map((migration) => migration.id);
    if (new Set(ids).size !== ids.length) throw new Error('Migration ids must be unique');
    if ([...ids].sort().join() !== ids.join()) throw new Error('Migrations must be listed in id order');
    this.lockTtlMs = options.lockTtlMs ?? 10 * 60_000;
    this.lockWaitMs = options.lockWaitMs ?? 60_000;
    this.log = options.log ?? (() => {});
  }

  async status(): Promise<MigrationStatus[]> {
    const applied = await this.applied();
    return this.migrations.map((migration) => ({
      id: migration.id,
      description: migration.description,
      appliedAt: applied.get(migration.id)?.appliedAt ?? null,
    }));
  }

  /** Applies every pending migration; returns the ids applied now. */
  async up(): Promise<string[]> {
    return this.withLock(async () => {
      const applied = await this.applied();
      const done: string[] = [];
      for (const migration of this.migrations) {
        if (applied.has(migration.id)) continue;
        this.log(`applying ${migration.id}: ${migration.description}`);
        await migration.up(this.db, this.context(migration.id));
        await this.changelog().updateOne(
          { _id: migration.id },
          { $set: { description: migration.description, appliedAt: new Date() } },
          { upsert: true },
        );
        done.push(migration.id);
      }
      return done;
    });
  }

  /** Reverts the most recently applied migration; returns its id, or null when none is applied. */
  async down(): Promise<string | null> {
    return this.withLock(async () => {
      const applied = await this.applied();
      const last = [...this.migrations].reverse().find((migration) => applied.has(migration.id));
      if (!last) return null;
      this.log(`reverting ${last.id}: ${last.description}`);
      await last.down(this.db, this.context(last.id));
      await this.changelog().deleteOne({ _id: last.id });
      return last.id;
    });
  }

  /** Progress of a long migration: logged, and the lock's lease extended so no other process takes over. */
  private context(id: string): MigrationContext {
    return {
      progress: async (message) => {
        this.log(`${id}: ${message}`);
        await this.db
          .collection<LockEntry>(LOCK_COLLECTION)
          .updateOne({ _id: LOCK_ID, owner: this.owner }, { $set: { expiresAt: new Date(Date.now() + this.lockTtlMs) } });
      },
    };
  }

  private async applied(): Promise<Map<string, ChangelogEntry>> {
    const entries = await this.changelog().find({}).toArray();
    return new Map(entries.map((entry) => [entry._id, entry]));
  }

  private changelog() {
    return this.db.collection<ChangelogEntry>(CHANGELOG_COLLECTION);
  }

  private async withLock<T>(work: () => Promise<T>): Promise<T> {
    const locks = this.db.collection<LockEntry>(LOCK_COLLECTION);
    const deadline = Date.now() + this.lockWaitMs;
    while (!(await this.tryLock())) {
      if (Date.now() > deadline) {
        const holder = await locks.findOne({ _id: LOCK_ID });
        throw new Error(`Migrations are locked by ${holder?.owner ?? 'another process'} until ${holder?.expiresAt.toISOString() ?? '?'}`);
      }
      await new Promise((wake) => setTimeout(wake, 250));
    }
    try {
      return await work();
    } finally {
      await locks.deleteOne({ _id: LOCK_ID, owner: this.owner });
    }
  }

  /** Takes the lease by inserting it (unique _id), or by replacing one that has expired. */
  private async tryLock(): Promise<boolean> {
    const locks = this.db.collection<LockEntry>(LOCK_COLLECTION);
    const now = new Date();
    const lease = { owner: this.owner, expiresAt: new Date(now.getTime() + this.lockTtlMs) };
    try {
      await locks.insertOne({ _id: LOCK_ID, ...lease });
      return true;
    } catch (error) {
      if ((error as { code?: number }).code !== 11000) throw error;
    }
    const takeover = await locks.updateOne({ _id: LOCK_ID, expiresAt: { $lt: now } }, { $set: lease });
    return takeover.modifiedCount === 1;
  }
}
