import { HttpStatus, Injectable } from '@nestjs/common';
import mongoose, { Types } from 'mongoose';
import { AppException } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { MessagesService } from '../messages/messages.service.js';
import type { FeedbackComment, FeedbackFact } from '../common/analytics/analytics-facts.js';
import { FeedbackDto, SubmitFeedbackDto } from './dto/feedback.dto.js';
import { FeedbackRecord, FeedbackRepository } from './feedback.repository.js';

@Injectable()
export class FeedbackService {
  constructor(
    private readonly feedback: FeedbackRepository,
    private readonly messages: MessagesService,
  ) {}

  /** Rates one of the caller's assistant replies; rating again changes the rating. */
  async submit(ownerId: string, messageId: string, dto: SubmitFeedbackDto): Promise<FeedbackDto> {
    const message = await this.messages.getById(ownerId, messageId);
    if (message.type !== 'assistant') {
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.NOT_AN_ASSISTANT_MESSAGE, 'Feedback is for assistant replies only');
    }
    const fields = {
      messageId: new Types.ObjectId(messageId),
      conversationId: new Types.ObjectId(message.conversationId),
      agentKey: message.generation?.agentKey ?? null,
      agentVersion: message.generation?.agentVersion ?? null,
      rating: dto.rating,
      comment: dto.comment?.trim() || null,
    };
    try {
      return toFeedbackDto(await this.feedback.upsert(ownerId, fields));
    } catch (error) {
      // Two first ratings at once: both upserts insert, one loses on the unique index; it now updates.
      if (!(error instanceof mongoose.mongo.MongoServerError && error.code === 11000)) throw error;
      return toFeedbackDto(await this.feedback.upsert(ownerId, fields));
    }
  }

  /** Analytics: every rating first given within [from, to), oldest first, streamed (no comment text). */
  async *factsBetween(from: Date, to: Date): AsyncGenerator<FeedbackFact> {
    for await (const record of this.feedback.createdBetween(from, to)) {
      yield {
        userId: record.userId,
        conversationId: record.conversationId.toHexString(),
        agentKey: record.agentKey ?? null,
        rating: record.rating,
        hasComment: typeof record.comment === 'string' && record.comment.length > 0,
        createdAt: record.createdAt,
      };
    }
  }

  /** Analytics (admins only): the newest comments within [from, to), optionally of one user or agent. */
  async commentsBetween(from: Date, to: Date, filter: { userId?: string; agentKey?: string }, limit: number): Promise<FeedbackComment[]> {
    return (await this.feedback.commentsBetween(from, to, filter, limit)).map((record) => ({
      rating: record.rating,
      comment: record.comment ?? '',
      agentKey: record.agentKey ?? null,
      conversationId: record.conversationId.toHexString(),
      createdAt: record.createdAt,
    }));
  }
}

function toFeedbackDto(record: FeedbackRecord): FeedbackDto {
  return {
    messageId: record.messageId.toHexString(),
    conversationId: record.conversationId.toHexString(),
    rating: record.rating,
    comment: record.comment ?? null,
    createdAt: record.createdAt.toISOString(),
    updatedAt: record.updatedAt.toISOString(),
  };
}
