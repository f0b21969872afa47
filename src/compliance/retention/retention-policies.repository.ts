import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model } from 'mongoose';
import { PolicyEditor, RetentionAction, RetentionPolicy, RetentionScope } from './schemas/retention-policy.schema.js';

/** An override as stored, as a plain object (never a Mongoose document). */
export type RetentionPolicyRecord = RetentionPolicy;

/** The only owner of the chat_retention_policies Model. */
@Injectable()
export class RetentionPoliciesRepository {
  constructor(@InjectModel(RetentionPolicy.name) private readonly model: Model<RetentionPolicy>) {}

  /** Every override, by scope then key (admins set a handful: one per role or agent at most). */
  all(): Promise<RetentionPolicyRecord[]> {
    return this.model.find().sort({ scope: 1, key: 1 }).lean<RetentionPolicyRecord[]>().exec();
  }

  /** Sets the override of one role or agent; answers it as it was before (null when it is new) and as it is now. */
  async put(
    scope: RetentionScope,
    key: string,
    policy: { days: number; action: RetentionAction; updatedBy: PolicyEditor; now: Date },
  ): Promise<{ before: RetentionPolicyRecord | null; after: Omit<RetentionPolicyRecord, '_id'> }> {
    const write = () =>
      this.model
        .findOneAndUpdate(
          { scope, key },
          {
            $set: { days: policy.days, action: policy.action, updatedBy: policy.updatedBy, updatedAt: policy.now },
            $setOnInsert: { scope, key, createdAt: policy.now },
          },
          { upsert: true, returnDocument: 'before', timestamps: false },
        )
        .lean<RetentionPolicyRecord>()
        .exec();
    let before: RetentionPolicyRecord | null;
    try {
      before = await write();
    } catch (error) {
      // Two first PUTs at once: both upserts insert, one loses on the unique index; it now updates.
      if (!(error instanceof mongoose.mongo.MongoServerError && error.code === 11000)) throw error;
      before = await write();
    }
    const after: Omit<RetentionPolicyRecord, '_id'> = {
      scope,
      key,
      days: policy.days,
      action: policy.action,
      updatedBy: policy.updatedBy,
      createdAt: before?.createdAt ?? policy.now,
      updatedAt: policy.now,
    };
    return { before, after };
  }

  /** Removes the override; answers it as it was, null when there was none. */
  remove(scope: RetentionScope, key: string): Promise<RetentionPolicyRecord | null> {
    return this.model.findOneAndDelete({ scope, key }).lean<RetentionPolicyRecord>().exec();
  }

  countEditedBy(userId: string): Promise<number> {
    return this.model.countDocuments({ 'updatedBy.userId': userId }).exec();
  }

  streamEditedBy(userId: string): AsyncIterable<RetentionPolicyRecord> {
    return this.model.find({ 'updatedBy.userId': userId }).sort({ scope: 1, key: 1 }).lean<RetentionPolicyRecord>().cursor();
  }

  /** Puts `replacement` in place of the admin's id on the overrides they last set; answers how many. */
  async replaceEditor(userId: string, replacement: string): Promise<number> {
    return (await this.model.updateMany({ 'updatedBy.userId': userId }, { $set: { 'updatedBy.userId': replacement } }).exec())
      .modifiedCount;
  }
}
