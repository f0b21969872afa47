import { Injectable, OnModuleInit } from '@nestjs/common';
import type { Types } from 'mongoose';
import { rewriteInBatches } from '../common/user-data/batches.js';
import { asyncIterableOf } from '../common/user-data/async-iterable.js';
import { UserDataRegistry } from '../common/user-data/user-data.registry.js';
import type {
  ConversationDataProvider,
  DataCounts,
  ExportPart,
  Pseudonymisation,
  UserDataHolding,
  UserDataProvider,
} from '../common/user-data/user-data.js';
import { FeedbackRecord, FeedbackRepository } from './feedback.repository.js';
import { FEEDBACK_COLLECTION } from './schemas/feedback.schema.js';

/** Ratings read and rewritten per round trip when pseudonymising. */
const PSEUDONYMISE_BATCH = 500;

const CSV_COLUMNS = ['messageId', 'conversationId', 'rating', 'comment', 'agentKey', 'agentVersion', 'createdAt', 'updatedAt'] as const;

/**
 * A user's ratings of assistant replies (chat_message_feedback): listed, exported, erased and
 * pseudonymised for compliance, and purged or pseudonymised with their conversations by retention.
 * Pseudonymised ratings keep rating and agent version, so satisfaction figures stay valid.
 */
@Injectable()
export class FeedbackUserDataProvider implements UserDataProvider, ConversationDataProvider, OnModuleInit {
  readonly name = 'feedback';
  readonly holdings: readonly UserDataHolding[] = [
    {
      store: FEEDBACK_COLLECTION,
      userFields: ['userId'],
      description: 'Ratings of assistant replies: up or down, the comment, and the agent version rated.',
    },
  ];

  constructor(
    private readonly registry: UserDataRegistry,
    private readonly feedback: FeedbackRepository,
  ) {}

  onModuleInit(): void {
    this.registry.registerUserData(this);
    this.registry.registerConversationData(this);
  }

  async inventory(userId: string): Promise<DataCounts> {
    return { [FEEDBACK_COLLECTION]: await this.feedback.countOwned(userId) };
  }

  export(userId: string): AsyncIterable<ExportPart> {
    return asyncIterableOf<ExportPart>([
      {
        kind: 'records',
        name: 'feedback',
        description:
          'Your ratings of assistant replies: the message rated, up or down, your comment, and the agent version that wrote the reply.',
        records: this.records(userId),
        csvColumns: CSV_COLUMNS,
      },
    ]);
  }

  async erase(userId: string): Promise<DataCounts> {
    return { [FEEDBACK_COLLECTION]: await this.feedback.deleteOwned(userId) };
  }

  async pseudonymise(request: Pseudonymisation): Promise<DataCounts> {
    return { [FEEDBACK_COLLECTION]: await this.rewriteOwner(request, undefined) };
  }

  async countForConversations(conversationIds: readonly Types.ObjectId[]): Promise<DataCounts> {
    return { [FEEDBACK_COLLECTION]: await this.feedback.countInConversations(conversationIds) };
  }

  async purgeConversations(conversationIds: readonly Types.ObjectId[]): Promise<DataCounts> {
    return { [FEEDBACK_COLLECTION]: await this.feedback.deleteInConversations(conversationIds) };
  }

  /** Only the ratings of `request.userId` in these conversations change; others are left alone. */
  async pseudonymiseConversations(conversationIds: readonly Types.ObjectId[], request: Pseudonymisation): Promise<DataCounts> {
    if (conversationIds.length === 0) return { [FEEDBACK_COLLECTION]: 0 };
    return { [FEEDBACK_COLLECTION]: await this.rewriteOwner(request, conversationIds) };
  }

  private rewriteOwner(request: Pseudonymisation, conversationIds: readonly Types.ObjectId[] | undefined): Promise<number> {
    return rewriteInBatches(
      () => this.feedback.personalFields(request.userId, conversationIds, PSEUDONYMISE_BATCH),
      (batch) =>
        this.feedback.replaceOwner(
          request.userId,
          request.pseudonym,
          batch.map((feedback) => ({ _id: feedback._id, comment: feedback.comment ? request.maskText(feedback.comment) : null })),
          new Date(),
        ),
    );
  }

  private async *records(userId: string): AsyncGenerator<Record<string, unknown>> {
    for await (const record of this.feedback.streamOwned(userId)) yield toExportRecord(record);
  }
}

function toExportRecord(record: FeedbackRecord): Record<string, unknown> {
  return {
    messageId: record.messageId.toHexString(),
    conversationId: record.conversationId.toHexString(),
    rating: record.rating,
    comment: record.comment ?? null,
    agentKey: record.agentKey ?? null,
    agentVersion: record.agentVersion ?? null,
    createdAt: record.createdAt.toISOString(),
    updatedAt: record.updatedAt.toISOString(),
  };
}
