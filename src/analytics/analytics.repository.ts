import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model } from 'mongoose';
import type { Period } from './rollup/calendar.js';
import type { Feature, Scope } from './rollup/rollup-figures.js';
import { AnalyticsRollup } from './schemas/analytics-rollup.schema.js';
import { FeatureUsage } from './schemas/feature-usage.schema.js';

export type RollupRecord = AnalyticsRollup;
export type FeatureUsageRecord = FeatureUsage;

const { trusted } = mongoose;
/** The lists of ScopeMembers. */
const MEMBER_LISTS = ['active', 'attachments', 'search', 'export', 'realtime'] as const;

/** The only owner of the chat_analytics and chat_feature_usage Models. */
@Injectable()
export class AnalyticsRepository {
  constructor(
    @InjectModel(AnalyticsRollup.name) private readonly rollups: Model<AnalyticsRollup>,
    @InjectModel(FeatureUsage.name) private readonly usage: Model<FeatureUsage>,
  ) {}

  /** The digest of every stored rollup of one period (its documents of all scopes). */
  async digests(period: Period, periodStart: Date): Promise<Map<string, string>> {
    const found = await this.rollups.find({ period, periodStart }, { digest: 1 }).lean<Pick<RollupRecord, '_id' | 'digest'>[]>().exec();
    return new Map(found.map((record) => [record._id, record.digest]));
  }

  /** Writes rollups (whole documents, replacing any stored under the same id). */
  async replaceMany(documents: readonly RollupRecord[]): Promise<void> {
    if (documents.length === 0) return;
    await this.rollups.bulkWrite(
      documents.map((document) => ({ replaceOne: { filter: { _id: document._id }, replacement: document, upsert: true } })),
      { ordered: false },
    );
  }

  async deleteByIds(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return (await this.rollups.deleteMany({ _id: trusted({ $in: ids }) }).exec()).deletedCount;
  }

  /** The daily rollups of a period's days, streamed, by scope. */
  dailyWithin(from: Date, to: Date): AsyncIterable<RollupRecord> {
    return this.rollups
      .find({ periodStart: trusted({ $gte: from, $lt: to }), period: 'daily' })
      .sort({ scope: 1, scopeId: 1, periodStart: 1 })
      .batchSize(500)
      .lean<RollupRecord>()
      .cursor();
  }

  /** One scope's rollups of one period kind that start within [from, to), oldest first. */
  ofScope(period: Period, scope: Scope, scopeId: string, from: Date, to: Date): Promise<RollupRecord[]> {
    return this.rollups
      .find({ scopeId, scope, period, periodStart: trusted({ $gte: from, $lt: to }) })
      .sort({ periodStart: 1 })
      .lean<RollupRecord[]>()
      .exec();
  }

  /** The scope ids of one scope kind that have daily rollups within [from, to) (the dashboard's scope picker). */
  async scopeIds(scope: Exclude<Scope, 'user' | 'global'>, from: Date, to: Date): Promise<string[]> {
    const ids = await this.rollups.distinct('scopeId', { scope, period: 'daily', periodStart: trusted({ $gte: from, $lt: to }) }).exec();
    return ids.map(String).sort();
  }

  // --- feature usage

  /** Counts one use of a feature by a user on a day. */
  async recordUse(userId: string, day: string, feature: Feature, at: Date): Promise<void> {
    await this.usage
      .updateOne(
        { userId, day, feature },
        { $inc: { count: 1 }, $max: { lastAt: at }, $setOnInsert: { userId, day, feature } },
        { upsert: true },
      )
      .exec();
  }

  usageOfDay(day: string): AsyncIterable<Pick<FeatureUsageRecord, 'userId' | 'feature' | 'count'>> {
    return this.usage.find({ day }, { userId: 1, feature: 1, count: 1 }).batchSize(1000).lean<FeatureUsageRecord>().cursor();
  }

  // --- the user-data seam

  streamOwnedRollups(userId: string): AsyncIterable<RollupRecord> {
    return this.rollups.find({ userId }).sort({ period: 1, periodStart: 1 }).batchSize(200).lean<RollupRecord>().cursor();
  }

  streamOwnedUsage(userId: string): AsyncIterable<FeatureUsageRecord> {
    return this.usage.find({ userId }).sort({ day: 1, feature: 1 }).batchSize(500).lean<FeatureUsageRecord>().cursor();
  }

  async countOwned(userId: string): Promise<{ rollups: number; usage: number }> {
    const [rollups, usage] = await Promise.all([
      this.rollups.countDocuments({ userId }).exec(),
      this.usage.countDocuments({ userId }).exec(),
    ]);
    return { rollups, usage };
  }

  async deleteOwned(userId: string): Promise<{ rollups: number; usage: number }> {
    const rollups = (await this.rollups.deleteMany({ userId }).exec()).deletedCount;
    const usage = (await this.usage.deleteMany({ userId }).exec()).deletedCount;
    return { rollups, usage };
  }

  /** Takes the user out of the members of every other scope's daily rollups; answers how many documents changed. */
  async removeMember(userId: string): Promise<number> {
    const pulled = await this.rollups
      .updateMany({ 'members.active': userId }, { $pull: Object.fromEntries(MEMBER_LISTS.map((list) => [`members.${list}`, userId])) })
      .exec();
    return pulled.modifiedCount;
  }

  /** Puts a pseudonym in the user's place in the members of the daily rollups; answers how many documents changed. */
  async renameMember(userId: string, pseudonym: string): Promise<number> {
    let renamed = 0;
    for (const list of MEMBER_LISTS) {
      const field = `members.${list}`;
      await this.rollups.updateMany({ [field]: userId }, { $addToSet: { [field]: pseudonym } }).exec();
      renamed += (await this.rollups.updateMany({ [field]: userId }, { $pull: { [field]: userId } }).exec()).modifiedCount;
    }
    return renamed;
  }

  /** Moves the user's usage counters to a pseudonym (adding to any the pseudonym has on the same day). */
  async renameUsage(userId: string, pseudonym: string): Promise<number> {
    let moved = 0;
    for await (const record of this.streamOwnedUsage(userId)) {
      await this.usage
        .updateOne(
          { userId: pseudonym, day: record.day, feature: record.feature },
          {
            $inc: { count: record.count },
            $max: { lastAt: record.lastAt },
            $setOnInsert: { userId: pseudonym, day: record.day, feature: record.feature },
          },
          { upsert: true },
        )
        .exec();
      await this.usage.deleteOne({ _id: record._id }).exec();
      moved += 1;
    }
    return moved;
  }
}
