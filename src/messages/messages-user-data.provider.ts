import { Injectable, OnModuleInit } from '@nestjs/common';
import type { Types } from 'mongoose';
import { rewriteInBatches } from '../common/user-data/batches.js';
import { maskStrings } from '../common/user-data/mask-strings.js';
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
import { ConversationsService } from '../conversations/conversations.service.js';
import { MessageCache } from './message-cache.js';
import { MessageRecord, MessagesRepository } from './messages.repository.js';
import { MESSAGES_COLLECTION } from './schemas/message.schema.js';

/** Messages read and rewritten per round trip when pseudonymising. */
const PSEUDONYMISE_BATCH = 500;

const CSV_COLUMNS = [
  'id',
  'conversationId',
  'seq',
  'type',
  'status',
  'timestamp',
  'content',
  'tokens',
  'tokensUsed.total',
  'processingTime',
  'generation.agentKey',
  'generation.model',
  'attachmentCount',
] as const;

/**
 * A user's messages (chat_messages, where every message of a conversation carries its owner's id):
 * listed, exported, erased and pseudonymised for compliance, and purged or pseudonymised with
 * their conversations by retention.
 *
 * Counts: messages only ever go here together with their whole conversations (a user's erasure
 * takes all their conversations, retention purges whole conversations), so no conversation is
 * left with a messageCount to correct. Were a purge to stop between the messages and their
 * conversation, the count repair job would set the leftover conversation's count from what is
 * stored, until the next run removes it.
 */
@Injectable()
export class MessagesUserDataProvider implements UserDataProvider, ConversationDataProvider, OnModuleInit {
  readonly name = 'messages';
  readonly holdings: readonly UserDataHolding[] = [
    {
      store: MESSAGES_COLLECTION,
      userFields: ['userId'],
      description:
        'Messages of the user’s conversations, theirs and the assistant’s replies: text, metadata, time, sequence number, token ' +
        'counts, reply status and the agent that wrote a reply; the search terms of the text.',
    },
  ];

  constructor(
    private readonly registry: UserDataRegistry,
    private readonly messages: MessagesRepository,
    private readonly cache: MessageCache,
    private readonly conversations: ConversationsService,
  ) {}

  onModuleInit(): void {
    this.registry.registerUserData(this);
    this.registry.registerConversationData(this);
  }

  async inventory(userId: string): Promise<DataCounts> {
    return { [MESSAGES_COLLECTION]: await this.messages.countOwned(userId) };
  }

  export(userId: string): AsyncIterable<ExportPart> {
    return asyncIterableOf<ExportPart>([
      {
        kind: 'records',
        name: 'messages',
        description:
          'Every message of your conversations, yours and the assistant’s, oldest first: text, metadata, time, sequence number in its ' +
          'conversation, token counts, reply status, processing time and the agent and model that wrote a reply.',
        records: this.records(userId),
        csvColumns: CSV_COLUMNS,
      },
    ]);
  }

  async erase(userId: string): Promise<DataCounts> {
    const deleted = await this.messages.deleteOwned(userId);
    this.cache.evictOwner(userId);
    return { [MESSAGES_COLLECTION]: deleted };
  }

  async pseudonymise(request: Pseudonymisation): Promise<DataCounts> {
    const rewritten = await this.rewriteOwner(request, undefined);
    this.cache.evictOwner(request.userId);
    return { [MESSAGES_COLLECTION]: rewritten };
  }

  async countForConversations(conversationIds: readonly Types.ObjectId[]): Promise<DataCounts> {
    return { [MESSAGES_COLLECTION]: await this.messages.countInConversations(conversationIds) };
  }

  async purgeConversations(conversationIds: readonly Types.ObjectId[]): Promise<DataCounts> {
    const deleted = await this.messages.deleteInConversations(conversationIds);
    await this.historiesChanged(conversationIds);
    return { [MESSAGES_COLLECTION]: deleted };
  }

  /** Only the messages of `request.userId` in these conversations change; others are left alone. */
  async pseudonymiseConversations(conversationIds: readonly Types.ObjectId[], request: Pseudonymisation): Promise<DataCounts> {
    if (conversationIds.length === 0) return { [MESSAGES_COLLECTION]: 0 };
    const rewritten = await this.rewriteOwner(request, conversationIds);
    await this.historiesChanged(conversationIds);
    return { [MESSAGES_COLLECTION]: rewritten };
  }

  /** Cached histories of these conversations go, here at once and on other instances by their version. */
  private async historiesChanged(conversationIds: readonly Types.ObjectId[]): Promise<void> {
    this.cache.evict(conversationIds.map((id) => id.toHexString()));
    await this.conversations.messagesChanged(conversationIds);
  }

  /** Content and metadata masked batch by batch; token counts, types and times stay as they were. */
  private rewriteOwner(request: Pseudonymisation, conversationIds: readonly Types.ObjectId[] | undefined): Promise<number> {
    const mask = (text: string) => request.maskText(text);
    return rewriteInBatches(
      () => this.messages.personalFields(request.userId, conversationIds, PSEUDONYMISE_BATCH),
      (batch) =>
        this.messages.replaceOwner(
          request.userId,
          request.pseudonym,
          batch.map((message) => ({
            _id: message._id,
            content: mask(message.content ?? ''),
            metadata: maskStrings(message.metadata ?? {}, mask),
          })),
          new Date(),
        ),
    );
  }

  private async *records(userId: string): AsyncGenerator<Record<string, unknown>> {
    for await (const record of this.messages.streamOwned(userId)) yield toExportRecord(record);
  }
}

function toExportRecord(record: MessageRecord): Record<string, unknown> {
  const generation = record.generation
    ? {
        agentKey: record.generation.agentKey,
        agentVersion: record.generation.agentVersion,
        provider: record.generation.provider,
        model: record.generation.model ?? null,
        attempt: record.generation.attempt ?? 1,
      }
    : null;
  return {
    id: record._id.toHexString(),
    conversationId: record.conversationId.toHexString(),
    seq: record.seq,
    type: record.type,
    status: record.status ?? 'completed',
    content: record.content ?? '',
    metadata: record.metadata ?? {},
    timestamp: record.timestamp.toISOString(),
    tokens: record.tokens ?? 0,
    tokensUsed: record.tokensUsed
      ? { prompt: record.tokensUsed.prompt, completion: record.tokensUsed.completion, total: record.tokensUsed.total }
      : null,
    processingTime: record.processingTime ?? null,
    error: record.error ? { code: record.error.code, message: record.error.message } : null,
    generation,
    attachmentCount: record.attachmentCount ?? 0,
    createdAt: record.createdAt?.toISOString() ?? null,
    updatedAt: record.updatedAt?.toISOString() ?? null,
  };
}
