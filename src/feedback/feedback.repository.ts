import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model, Types } from 'mongoose';
import { MessageFeedback, Rating } from './schemas/feedback.schema.js';

export type FeedbackRecord = MessageFeedback;

@Injectable()
export class FeedbackRepository {
  constructor(@InjectModel(MessageFeedback.name) private readonly model: Model<MessageFeedback>) {}

  /** One document per (message, user): a second rating replaces the first. */
  upsert(
    ownerId: string,
    feedback: {
      messageId: Types.ObjectId;
      conversationId: Types.ObjectId;
      agentKey: string | null;
      agentVersion: number | null;
      rating: Rating;
      comment: string | null;
    },
  ): Promise<FeedbackRecord> {
    const { messageId, ...rest } = feedback;
    return this.model
      .findOneAndUpdate(
        { messageId, userId: ownerId },
        { $set: rest, $setOnInsert: { messageId, userId: ownerId } },
        { upsert: true, returnDocument: 'after' },
      )
      .lean<FeedbackRecord>()
      .orFail()
      .exec();
  }
}
