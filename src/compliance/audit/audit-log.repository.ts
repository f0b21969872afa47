import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model, Types } from 'mongoose';
import type { AuditAction } from './audit-actions.js';
import type { ChainedAuditEntry } from './audit-chain.js';
import { AuditEntry } from './schemas/audit-entry.schema.js';

export type AuditEntryRecord = AuditEntry;

const { trusted } = mongoose;

/** Where the chain ends: the last entry's seq and hash (seq 0 and no hash before the first entry). */
export interface ChainTail {
  seq: number;
  hash: string | null;
}

export interface AuditListFilter {
  action?: AuditAction;
  actorHash?: string;
  subjectHash?: string;
  from?: Date;
  to?: Date;
  /** Only entries before this seq (the cursor). */
  beforeSeq?: number;
  limit: number;
}

/** Whose entries: as the subject, or as the actor. */
export type AuditParty = 'subject' | 'actor';

const HASH_FIELD: Record<AuditParty, string> = { subject: 'subject.userIdHash', actor: 'actor.userIdHash' };
const PLAIN_ID_FIELD: Record<AuditParty, string> = { subject: 'subject.userId', actor: 'actor.userId' };

/**
 * The only owner of the chat_audit_log Model. Entries are only ever inserted; the two exceptions
 * are erasure (`removePlainUserIds`) and retention (`deleteSeqs`, from the start of the chain).
 */
@Injectable()
export class AuditLogRepository {
  constructor(@InjectModel(AuditEntry.name) private readonly model: Model<AuditEntry>) {}

  /** Inserts one entry; fails with a duplicate key (11000) when its seq is taken. */
  async insert(entry: ChainedAuditEntry & { _id: Types.ObjectId }): Promise<void> {
    await this.model.collection.insertOne(entry);
  }

  async exists(id: Types.ObjectId): Promise<boolean> {
    return (await this.model.exists({ _id: id })) !== null;
  }

  /** The last entry of the chain (a sort on the unique seq index; on the embedded store a scan, done once per instance). */
  async tail(): Promise<ChainTail> {
    const last = await this.model.findOne({}, { seq: 1, hash: 1 }).sort({ seq: -1 }).lean<Pick<AuditEntry, 'seq' | 'hash'>>().exec();
    return last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: null };
  }

  /** One entry by seq: an exact lookup on the unique index, on either store. */
  async bySeq(seq: number): Promise<Pick<AuditEntry, 'seq' | 'hash'> | null> {
    return this.model.findOne({ seq }, { seq: 1, hash: 1 }).lean<Pick<AuditEntry, 'seq' | 'hash'>>().exec();
  }

  /** The oldest entry kept. */
  async first(): Promise<AuditEntryRecord | null> {
    return this.model.findOne({}).sort({ seq: 1 }).lean<AuditEntryRecord>().exec();
  }

  /** The chain from `fromSeq` on, in order, streamed. */
  streamFrom(fromSeq: number): AsyncIterable<AuditEntryRecord> {
    return this.model
      .find({ seq: trusted({ $gte: fromSeq }) })
      .sort({ seq: 1 })
      .lean<AuditEntryRecord[]>()
      .cursor({ batchSize: 500 });
  }

  /** The newest audit.pruned entry (the retention job finishes a pruning it left half-done). */
  async lastPruning(): Promise<AuditEntryRecord | null> {
    return this.model.findOne({ action: 'audit.pruned' }).sort({ seq: -1 }).lean<AuditEntryRecord>().exec();
  }

  /** The latest audit.pruned entry whose recorded range reaches `firstSeq` (fromSeq ≤ firstSeq ≤ throughSeq + 1). */
  async pruningReaching(firstSeq: number): Promise<AuditEntryRecord | null> {
    return this.model
      .findOne({
        action: 'audit.pruned',
        'details.fromSeq': trusted({ $lte: firstSeq }),
        'details.throughSeq': trusted({ $gte: firstSeq - 1 }),
      })
      .sort({ seq: -1 })
      .lean<AuditEntryRecord>()
      .exec();
  }

  /** Removes the entries with these seqs; answers how many went. */
  async deleteSeqs(seqs: readonly number[]): Promise<number> {
    const result = await this.model.deleteMany({ seq: trusted({ $in: seqs }) }).exec();
    return result.deletedCount;
  }

  /** The admin listing: newest first, `limit + 1` rows (the extra one says there is more). */
  async list(filter: AuditListFilter): Promise<AuditEntryRecord[]> {
    const query: Record<string, unknown> = {};
    if (filter.actorHash) query['actor.userIdHash'] = filter.actorHash;
    if (filter.subjectHash) query['subject.userIdHash'] = filter.subjectHash;
    if (filter.action) query.action = filter.action;
    if (filter.from || filter.to) {
      query.at = trusted({ ...(filter.from ? { $gte: filter.from } : {}), ...(filter.to ? { $lte: filter.to } : {}) });
    }
    if (filter.beforeSeq !== undefined) query.seq = trusted({ $lt: filter.beforeSeq });
    return this.model
      .find(query)
      .sort({ seq: -1 })
      .limit(filter.limit + 1)
      .lean<AuditEntryRecord[]>()
      .exec();
  }

  /** Entries where the user (by keyed hash) is the given party, in seq order, streamed; `exceptSubject` leaves out those about them as subject. */
  streamAbout(party: AuditParty, userIdHash: string, options: { exceptSubject?: boolean } = {}): AsyncIterable<AuditEntryRecord> {
    return this.model
      .find(this.about(party, userIdHash, options))
      .sort({ seq: 1 })
      .lean<AuditEntryRecord[]>()
      .cursor({ batchSize: 500 });
  }

  async countAbout(
    party: AuditParty,
    userIdHash: string,
    options: { exceptSubject?: boolean; withPlainId?: boolean } = {},
  ): Promise<number> {
    return this.model.countDocuments(this.about(party, userIdHash, options)).exec();
  }

  private about(
    party: AuditParty,
    userIdHash: string,
    options: { exceptSubject?: boolean; withPlainId?: boolean },
  ): Record<string, unknown> {
    const conditions: Record<string, unknown> = { [HASH_FIELD[party]]: userIdHash };
    if (options.exceptSubject) conditions['subject.userIdHash'] = trusted({ $ne: userIdHash });
    if (options.withPlainId) conditions[PLAIN_ID_FIELD[party]] = trusted({ $exists: true });
    return conditions;
  }

  /** The ids of up to `limit` entries that still carry the user's plain id as the party. */
  async withPlainUserId(party: AuditParty, userIdHash: string, limit: number): Promise<Types.ObjectId[]> {
    const rows = await this.model
      .find(this.about(party, userIdHash, { withPlainId: true }), { _id: 1 })
      .limit(limit)
      .lean<{ _id: Types.ObjectId }[]>()
      .exec();
    return rows.map((row) => row._id);
  }

  /** Removes the party's plain user id from these entries (their keyed hash stays, so the chain still verifies). */
  async removePlainUserIds(party: AuditParty, ids: readonly Types.ObjectId[]): Promise<number> {
    const result = await this.model.updateMany({ _id: trusted({ $in: ids }) }, { $unset: { [PLAIN_ID_FIELD[party]]: 1 } }).exec();
    return result.modifiedCount;
  }
}
