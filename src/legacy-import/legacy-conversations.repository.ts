import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model, Types } from 'mongoose';
import { LegacyConversation } from './schemas/legacy-conversation.schema.js';

export interface LegacyConversationState {
  parts: Types.ObjectId[];
  pending: Types.ObjectId | null;
}

const { trusted } = mongoose;

/** The only owner of the chat_legacy_conversations Model. */
@Injectable()
export class LegacyConversationsRepository {
  constructor(@InjectModel(LegacyConversation.name) private readonly model: Model<LegacyConversation>) {}

  async state(key: string): Promise<LegacyConversationState> {
    const found = await this.model.findById(key, { parts: 1, pending: 1 }).lean<Pick<LegacyConversation, 'parts' | 'pending'>>().exec();
    return { parts: found?.parts ?? [], pending: found?.pending ?? null };
  }

  /**
   * Records `candidate` as the next part, pending until confirmPart, when the ledger still has
   * `known` parts and none pending; answers the pending part (candidate, or the one already pending).
   */
  async reservePart(key: string, known: number, candidate: Types.ObjectId): Promise<Types.ObjectId> {
    await this.model
      .updateOne({ _id: key }, { $setOnInsert: { parts: [], pending: null, createdAt: new Date() } }, { upsert: true })
      .exec();
    await this.model.updateOne({ _id: key, pending: null, parts: trusted({ $size: known }) }, { $set: { pending: candidate } }).exec();
    const { pending } = await this.state(key);
    if (!pending) throw new Error(`legacy conversation ${key}: its parts changed during the import`);
    return pending;
  }

  /** The pending part exists now: it joins the parts. */
  async confirmPart(key: string, part: Types.ObjectId): Promise<void> {
    await this.model.updateOne({ _id: key, pending: part }, { $push: { parts: part }, $set: { pending: null } }).exec();
  }
}
