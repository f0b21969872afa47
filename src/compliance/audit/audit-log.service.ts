import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectConnection } from '@nestjs/mongoose';
import mongoose, { Types } from 'mongoose';
import type { AppConfig } from '../../common/config/app-config.js';
import { StoreStatus } from '../../database/store-status.js';
import { ACTIONS_WITHOUT_PLAIN_SUBJECT, AuditEntryInput } from './audit-actions.js';
import {
  AuditHashKey,
  ChainedAuditEntry,
  StoredAuditActor,
  StoredAuditSubject,
  entryHash,
  keyedIpHash,
  keyedUserIdHash,
  toPlainJson,
} from './audit-chain.js';
import { establishAuditHashKey } from './audit-hash-key.js';
import { AuditLogRepository, ChainTail } from './audit-log.repository.js';

export { AUDIT_ACTIONS } from './audit-actions.js';
export type { AuditAction, AuditActor, AuditEntryInput } from './audit-actions.js';

/** Appends lost to other instances before giving up (each loss means another instance appended). */
const MAX_APPEND_ATTEMPTS = 40;
/** The longest random pause after a lost append, so contenders spread out. */
const MAX_RETRY_JITTER_MS = 25;
export const GENERATED_KEY_WARNING =
  'CHAT_AUDIT_HASH_KEY is not set: the audit log hash key is generated and kept in the database (chat_audit_settings). ' +
  'The chain is then not tamper-evident against anyone who can write to the database (they can read the key, change entries ' +
  'and recompute the hashes), and the keyed user-id hashes can be linked to ids with a database dump. Tamper evidence against ' +
  'database writers needs CHAT_AUDIT_HASH_KEY (32+ characters, kept outside the database); an audit log started with a ' +
  'generated key keeps it, so set the variable before the log is first written.';

/**
 * The tamper-evident audit log (chat_audit_log): one chain of entries across all instances, each
 * naming the hash of the one before (see audit-chain.ts).
 *
 * Appending takes the next seq after the last entry and inserts; the unique index on `seq` lets
 * exactly one of two instances appending at once have it, and the other (duplicate key) reads the
 * new end of the chain and tries again, a bounded number of times after a short random pause.
 * Within an instance, appends go one at a time through a queue, so they never race each other.
 * The end of the chain is remembered between appends and followed forward by exact seq lookups
 * when another instance has appended meanwhile; only the first append of an instance sorts.
 */
@Injectable()
export class AuditLog implements OnApplicationBootstrap {
  private readonly logger = new Logger('AuditLog');
  private readonly configuredKey: string | undefined;
  private key: Promise<AuditHashKey> | null = null;
  private appending: Promise<unknown> = Promise.resolve();
  private tail: ChainTail | null = null;

  constructor(
    private readonly entries: AuditLogRepository,
    @InjectConnection() private readonly connection: mongoose.Connection,
    private readonly store: StoreStatus,
    config: ConfigService<AppConfig, true>,
  ) {
    this.configuredKey = config.get('compliance', { infer: true }).auditHashKey;
  }

  /**
   * A key that does not match the log is a deployment error: say so at boot rather than at the
   * first audited action. Without CHAT_AUDIT_HASH_KEY the key lives in the database next to the
   * log, which the chain then does not protect against: say that too.
   */
  onApplicationBootstrap(): void {
    if (this.configuredKey === undefined) this.logger.warn(GENERATED_KEY_WARNING);
    if (!this.store.availability().available) return;
    this.hashKey().catch((error: unknown) => this.logger.error({ err: error }, `Audit log unusable: ${(error as Error).message}`));
  }

  /** Appends an entry to the chain; resolves once it is durably stored. */
  record(entry: AuditEntryInput): Promise<void> {
    const appended = this.appending.then(() => this.append(entry));
    this.appending = appended.catch(() => undefined);
    return appended;
  }

  /** The keyed hash that stands for a user id in the log (an HMAC under the audit hash key). */
  async userIdHash(userId: string): Promise<string> {
    return keyedUserIdHash(await this.hashKey(), userId);
  }

  /** The keyed hash that stands for a client address in the log. */
  async ipHash(ip: string): Promise<string> {
    return keyedIpHash(await this.hashKey(), ip);
  }

  /** The key, loaded (or created) once; a failure is not remembered, so the next call tries again. */
  hashKey(): Promise<AuditHashKey> {
    if (!this.key) {
      const db = this.connection.db;
      if (!db) return Promise.reject(new Error('not connected to MongoDB'));
      this.key = establishAuditHashKey(db, this.configuredKey);
      this.key.catch(() => (this.key = null));
    }
    return this.key;
  }

  private async append(input: AuditEntryInput): Promise<void> {
    const key = await this.hashKey();
    const content = this.storedContent(key, input);
    const id = new Types.ObjectId();
    for (let attempt = 1; ; attempt += 1) {
      const tail = await this.currentTail();
      const unhashed: Omit<ChainedAuditEntry, 'hash'> = { seq: tail.seq + 1, at: new Date(), ...content, prevHash: tail.hash };
      const entry: ChainedAuditEntry = { ...unhashed, hash: entryHash(key, unhashed) };
      try {
        await this.entries.insert({ _id: id, ...entry });
        this.tail = { seq: entry.seq, hash: entry.hash };
        return;
      } catch (error) {
        if ((error as { code?: number }).code !== 11000) {
          this.tail = null;
          throw error;
        }
      }
      // The driver retries an insert once after a network error; if the first try had landed, the
      // duplicate is this entry's own _id: it is stored.
      if (await this.entries.exists(id)) {
        this.tail = null;
        return;
      }
      if (attempt >= MAX_APPEND_ATTEMPTS) {
        this.tail = null;
        throw new Error(`Could not append to the audit log: other instances appended first ${attempt} times in a row`);
      }
      this.tail = await this.followTail(tail);
      await new Promise((wake) => setTimeout(wake, Math.random() * Math.min(MAX_RETRY_JITTER_MS, attempt * 5)));
    }
  }

  private async currentTail(): Promise<ChainTail> {
    this.tail ??= await this.entries.tail();
    return this.tail;
  }

  /** Follows the chain forward from `known` by exact seq lookups to its current end. */
  private async followTail(known: ChainTail): Promise<ChainTail> {
    let tail = known;
    for (;;) {
      const next = await this.entries.bySeq(tail.seq + 1);
      if (!next) return tail;
      tail = { seq: next.seq, hash: next.hash };
    }
  }

  private storedContent(
    key: AuditHashKey,
    input: AuditEntryInput,
  ): Pick<ChainedAuditEntry, 'action' | 'actor' | 'subject' | 'target' | 'details'> {
    const hashOnly = ACTIONS_WITHOUT_PLAIN_SUBJECT.has(input.action);
    const subjectId = input.subjectUserId ?? null;
    let actor: StoredAuditActor;
    if ('system' in input.actor) {
      actor = { system: input.actor.system };
    } else {
      const keepPlainId = !(hashOnly && input.actor.userId === subjectId);
      actor = {
        ...(keepPlainId ? { userId: input.actor.userId } : {}),
        userIdHash: keyedUserIdHash(key, input.actor.userId),
        roles: [...input.actor.roles],
      };
    }
    const subject: StoredAuditSubject | null =
      subjectId === null ? null : { ...(hashOnly ? {} : { userId: subjectId }), userIdHash: keyedUserIdHash(key, subjectId) };
    return {
      action: input.action,
      actor,
      subject,
      target: input.target ? { type: input.target.type, id: input.target.id } : null,
      details: toPlainJson(input.details),
    };
  }
}
