import { randomUUID } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import type mongoose from 'mongoose';

type Db = mongoose.mongo.Db;

/** Every lease of the app: the migration runner's (`migrations`) and each scheduled job's (`job:<name>`). */
export const LEASES_COLLECTION = 'chat_job_leases';

export interface LeaseRecord {
  /** The lease's name: one document per name, so the unique `_id` decides who takes it. */
  _id: string;
  owner: string;
  acquiredAt: Date;
  expiresAt: Date;
}

/** An id for this process (and object: two app instances in one test process differ), used as a lease owner. */
export function newInstanceId(): string {
  return `${machineId()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/**
 * The host name, plus the pid namespace where the OS has one (Linux): containers that share a
 * host name (host networking) but not their pids must not judge each other's processes.
 */
function machineId(): string {
  try {
    return `${hostname()}@${readlinkSync('/proc/self/ns/pid').replace(/\D/g, '')}`;
  } catch {
    return hostname();
  }
}

/**
 * Whether an owner id (`host@pidns:pid:random`, see newInstanceId) names a process of this
 * machine and pid namespace that no longer runs. Owners on other machines are never judged dead here: their leases expire.
 */
export function isDeadLocalProcess(owner: string): boolean {
  const match = /^(.*):(\d+):[^:]+$/.exec(owner);
  if (!match || match[1] !== machineId()) return false;
  const pid = Number(match[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export class LeaseHeldError extends Error {
  constructor(
    readonly lease: string,
    readonly holder: LeaseRecord | null,
  ) {
    super(`Lease ${lease} is held by ${holder?.owner ?? 'another process'} until ${holder?.expiresAt.toISOString() ?? '?'}`);
    this.name = 'LeaseHeldError';
  }
}

/**
 * Named leases in MongoDB (`chat_job_leases`), for work that must happen once across instances.
 * Taking a lease inserts its document (the unique `_id` lets exactly one contender win) or, once
 * the holder's `expiresAt` has passed, takes it over with a conditional update; the holder extends
 * it with `renew` and gives it up with `release`. A lease left by a crashed process expires; one
 * left by a dead process of this same machine (same host name, its pid gone) is taken over at once.
 * Expiry compares clocks of different machines: keep TTLs far above the clock skew.
 */
export class Leases {
  constructor(
    private readonly db: Db,
    readonly owner: string = newInstanceId(),
  ) {}

  /**
   * Takes the lease now or answers null. With `reclaimOwn`, a lease this owner still holds (a
   * cooldown it set with `holdUntil`) is taken again too; the caller must know it is not using it.
   */
  async tryAcquire(name: string, ttlMs: number, options: { reclaimOwn?: boolean } = {}): Promise<Lease | null> {
    const now = new Date();
    const fields = { owner: this.owner, acquiredAt: now, expiresAt: new Date(now.getTime() + ttlMs) };
    try {
      await this.collection().insertOne({ _id: name, ...fields });
      return new Lease(this.collection(), name, this.owner, ttlMs, fields.expiresAt);
    } catch (error) {
      if ((error as { code?: number }).code !== 11000) throw error;
    }
    const takeable = options.reclaimOwn ? { $or: [{ expiresAt: { $lt: now } }, { owner: this.owner }] } : { expiresAt: { $lt: now } };
    let takeover = await this.collection().updateOne({ _id: name, ...takeable }, { $set: fields });
    if (takeover.matchedCount === 0) {
      // A process of this machine that died holding the lease (kill -9, a crash) would otherwise
      // block the work until the lease expires: restarted, the app takes it over at once.
      const holder = await this.holder(name);
      if (holder && isDeadLocalProcess(holder.owner)) {
        takeover = await this.collection().updateOne({ _id: name, owner: holder.owner }, { $set: fields });
      }
    }
    return takeover.matchedCount === 1 ? new Lease(this.collection(), name, this.owner, ttlMs, fields.expiresAt) : null;
  }

  /** Waits up to `waitMs` for the lease; then fails with a LeaseHeldError naming the holder. */
  async acquire(name: string, ttlMs: number, waitMs: number, pollMs = 250): Promise<Lease> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const lease = await this.tryAcquire(name, ttlMs);
      if (lease) return lease;
      if (Date.now() > deadline) throw new LeaseHeldError(name, await this.holder(name));
      await new Promise((wake) => setTimeout(wake, pollMs));
    }
  }

  holder(name: string): Promise<LeaseRecord | null> {
    return this.collection().findOne({ _id: name });
  }

  private collection() {
    return this.db.collection<LeaseRecord>(LEASES_COLLECTION);
  }
}

/** A lease this process holds. */
export class Lease {
  constructor(
    private readonly leases: mongoose.mongo.Collection<LeaseRecord>,
    readonly name: string,
    readonly owner: string,
    private readonly ttlMs: number,
    private currentExpiry: Date,
  ) {}

  get expiresAt(): Date {
    return this.currentExpiry;
  }

  /** Extends the lease by its TTL from now; false when it was lost (it expired and another process took it). */
  async renew(): Promise<boolean> {
    const expiresAt = new Date(Date.now() + this.ttlMs);
    const renewed = await this.leases.updateOne({ _id: this.name, owner: this.owner }, { $set: { expiresAt } });
    if (renewed.matchedCount === 1) this.currentExpiry = expiresAt;
    return renewed.matchedCount === 1;
  }

  /** Keeps the lease, unused, until `until` (a cooldown no other process may take it in); it then expires by itself. */
  async holdUntil(until: Date): Promise<void> {
    await this.leases.updateOne({ _id: this.name, owner: this.owner }, { $set: { expiresAt: until } });
    this.currentExpiry = until;
  }

  /** Gives the lease up (only if this process still holds it). */
  async release(): Promise<void> {
    await this.leases.deleteOne({ _id: this.name, owner: this.owner });
  }
}
