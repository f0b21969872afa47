import { Lease, LeaseHeldError, Leases } from '../../common/jobs/lease.js';
import { Db, Migration, MigrationContext } from './migration.js';

export const CHANGELOG_COLLECTION = 'migrations_changelog';
/** The runner's lease in the shared lease collection (`chat_job_leases`, see src/common/jobs/lease.ts). */
export const MIGRATIONS_LEASE = 'migrations';

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

/**
 * Applies migrations in id order and records each in `migrations_changelog`, so re-runs are
 * no-ops. The lease `migrations` (in `chat_job_leases`, shared with the job scheduler) keeps two
 * instances booting at once from running the same migration concurrently; a lease left by a
 * crashed instance expires.
 */
export class MigrationRunner {
  private readonly leases: Leases;
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
    this.leases = new Leases(db);
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
    return this.withLock(async (lease) => {
      const applied = await this.applied();
      const done: string[] = [];
      for (const migration of this.migrations) {
        if (applied.has(migration.id)) continue;
        this.log(`applying ${migration.id}: ${migration.description}`);
        await migration.up(this.db, this.context(migration.id, lease));
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
    return this.withLock(async (lease) => {
      const applied = await this.applied();
      const last = [...this.migrations].reverse().find((migration) => applied.has(migration.id));
      if (!last) return null;
      this.log(`reverting ${last.id}: ${last.description}`);
      await last.down(this.db, this.context(last.id, lease));
      await this.changelog().deleteOne({ _id: last.id });
      return last.id;
    });
  }

  /** Progress of a long migration: logged, and the lock's lease extended so no other process takes over. */
  private context(id: string, lease: Lease): MigrationContext {
    return {
      progress: async (message) => {
        this.log(`${id}: ${message}`);
        await lease.renew();
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

  private async withLock<T>(work: (lease: Lease) => Promise<T>): Promise<T> {
    const lease = await this.leases.acquire(MIGRATIONS_LEASE, this.lockTtlMs, this.lockWaitMs).catch((error: unknown) => {
      if (!(error instanceof LeaseHeldError)) throw error;
      const until = error.holder?.expiresAt.toISOString() ?? '?';
      throw new Error(`Migrations are locked by ${error.holder?.owner ?? 'another process'} until ${until}`);
    });
    try {
      return await work(lease);
    } finally {
      await lease.release();
    }
  }
}
