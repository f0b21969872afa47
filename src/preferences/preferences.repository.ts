import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model } from 'mongoose';
import { LearnedFact, MAX_FACTS, ResponseStyle, UserPreferences } from './schemas/user-preferences.schema.js';

export type PreferencesRecord = UserPreferences;

export interface PreferenceSettings {
  language: string | null;
  responseStyle: ResponseStyle | null;
  defaultAgentKey: string | null;
  notifications: { replyCompleted: boolean };
}

@Injectable()
export class PreferencesRepository {
  constructor(@InjectModel(UserPreferences.name) private readonly model: Model<UserPreferences>) {}

  find(ownerId: string): Promise<PreferencesRecord | null> {
    return this.model.findOne({ userId: ownerId }).lean<PreferencesRecord>().exec();
  }

  replaceSettings(ownerId: string, settings: PreferenceSettings): Promise<PreferencesRecord> {
    return this.model
      .findOneAndUpdate(
        { userId: ownerId },
        { $set: settings, $setOnInsert: { userId: ownerId, facts: [] } },
        { upsert: true, returnDocument: 'after' },
      )
      .lean<PreferencesRecord>()
      .orFail()
      .exec();
  }

  /** Null when the user already keeps MAX_FACTS facts. */
  addFact(ownerId: string, fact: LearnedFact): Promise<PreferencesRecord | null> {
    return this.model
      .findOneAndUpdate(
        { userId: ownerId, [`facts.${MAX_FACTS - 1}`]: mongoose.trusted({ $exists: false }) },
        { $push: { facts: fact }, $setOnInsert: { userId: ownerId } },
        { upsert: true, returnDocument: 'after' },
      )
      .lean<PreferencesRecord>()
      .exec();
  }

  async removeFact(ownerId: string, factId: string): Promise<boolean> {
    const result = await this.model.updateOne({ userId: ownerId, 'facts.id': factId }, { $pull: { facts: { id: factId } } }).exec();
    return result.modifiedCount === 1;
  }

  /** Removes the owner's preferences and kept facts; answers how many documents (0 or 1). */
  async deleteOwned(ownerId: string): Promise<number> {
    return (await this.model.deleteMany({ userId: ownerId }).exec()).deletedCount;
  }
}
