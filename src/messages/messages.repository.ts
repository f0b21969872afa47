import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model, Types } from 'mongoose';
import { CursorPosition } from '../common/pagination/cursor.js';
import { Message, MessageType, TokenUsage } from './schemas/message.schema.js';

export type MessageRecord = Message;

export interface NewMessage {
  type: MessageType;
  content: string;
  metadata: Record<string, unknown>;
  timestamp: Date;
  seq: number;
  tokensUsed?: TokenUsage;
  processingTime?: number;
}

export type HistoryOrder = 'asc' | 'desc';

const { trusted } = mongoose;

/** The only owner of the chat_messages Model; the owner id is the first argument of every method. */
@Injectable()
export class MessagesRepository {
  constructor(@InjectModel(Message.name) private readonly model: Model<Message>) {}

  async insertMany(ownerId: string, conversationId: Types.ObjectId, messages: NewMessage[]): Promise<MessageRecord[]> {
    const docs = messages.map((message) => ({
      ...message,
      conversationId,
      userId: ownerId,
      createdAt: message.timestamp,
      updatedAt: message.timestamp,
    }));
    const inserted = await this.model.insertMany(docs, { ordered: true, lean: false });
    return inserted.map((doc) => doc.toObject<MessageRecord>());
  }

  /** One page of a conversation's history in `order`, strictly past the cursor; fetches `limit + 1` rows. */
  page(
    ownerId: string,
    conversationId: Types.ObjectId,
    order: HistoryOrder,
    limit: number,
    after?: CursorPosition,
  ): Promise<MessageRecord[]> {
    const direction = order === 'asc' ? 1 : -1;
    const beyond = order === 'asc' ? '$gt' : '$lt';
    const query: Record<string, unknown> = { conversationId, userId: ownerId };
    if (after) {
      query.$or = [{ timestamp: trusted({ [beyond]: after.key }) }, { timestamp: after.key, _id: trusted({ [beyond]: after.id }) }];
    }
    return this.model
      .find(query)
      .sort({ timestamp: direction, _id: direction })
      .limit(limit + 1)
      .lean<MessageRecord[]>()
      .exec();
  }

  async latestTimestamp(ownerId: string, conversationId: Types.ObjectId): Promise<Date | null> {
    const latest = await this.model
      .findOne({ conversationId, userId: ownerId }, { timestamp: 1 })
      .sort({ timestamp: -1, _id: -1 })
      .lean<Pick<MessageRecord, 'timestamp'>>()
      .exec();
    return latest?.timestamp ?? null;
  }
}
