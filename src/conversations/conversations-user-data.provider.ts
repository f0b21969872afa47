import { Injectable, OnModuleInit } from '@nestjs/common';
import { asyncIterableOf } from '../common/user-data/async-iterable.js';
import { UserDataRegistry } from '../common/user-data/user-data.registry.js';
import type { DataCounts, ExportPart, Pseudonymisation, UserDataHolding, UserDataProvider } from '../common/user-data/user-data.js';
import { ConversationRecord, ConversationsRepository } from './conversations.repository.js';
import { ConversationsService } from './conversations.service.js';
import { CONVERSATIONS_COLLECTION } from './schemas/conversation.schema.js';

const CSV_COLUMNS = [
  'id',
  'title',
  'role',
  'agentKey',
  'status',
  'messageCount',
  'lastMessageAt',
  'lastActivityAt',
  'createdAt',
  'updatedAt',
  'archivedAt',
  'deletedAt',
] as const;

/**
 * A user's conversations (chat_conversations): listed, exported, erased and pseudonymised for
 * compliance. Their messages, files and feedback are their own modules' providers.
 */
@Injectable()
export class ConversationsUserDataProvider implements UserDataProvider, OnModuleInit {
  readonly name = 'conversations';
  readonly holdings: readonly UserDataHolding[] = [
    {
      store: CONVERSATIONS_COLLECTION,
      userFields: ['userId'],
      description:
        'Conversations: title, role and agent, status (active, archived, or deleted and awaiting purge), metadata, the rolling ' +
        'summary of older messages, message count and times; the search terms of the title.',
    },
  ];

  constructor(
    private readonly registry: UserDataRegistry,
    private readonly repository: ConversationsRepository,
    private readonly conversations: ConversationsService,
  ) {}

  onModuleInit(): void {
    this.registry.registerUserData(this);
  }

  async inventory(userId: string): Promise<DataCounts> {
    return { [CONVERSATIONS_COLLECTION]: await this.repository.countOwned(userId) };
  }

  export(userId: string): AsyncIterable<ExportPart> {
    return asyncIterableOf<ExportPart>([
      {
        kind: 'records',
        name: 'conversations',
        description:
          'Your conversations, deleted ones that are not purged yet included: title, role and agent, status, metadata, the summary ' +
          'the assistant keeps of older messages, message count and times.',
        records: this.records(userId),
        csvColumns: CSV_COLUMNS,
      },
    ]);
  }

  /** Removes every conversation of the user (their messages, files and feedback go through their own providers). */
  async erase(userId: string): Promise<DataCounts> {
    return { [CONVERSATIONS_COLLECTION]: await this.repository.deleteOwned(userId) };
  }

  pseudonymise(request: Pseudonymisation): Promise<DataCounts> {
    return this.conversations.pseudonymiseUser(request);
  }

  private async *records(userId: string): AsyncGenerator<Record<string, unknown>> {
    for await (const record of this.repository.streamOwned(userId)) yield toExportRecord(record);
  }
}

function toExportRecord(record: ConversationRecord): Record<string, unknown> {
  return {
    id: record._id.toHexString(),
    userId: record.userId,
    title: record.title ?? null,
    role: record.role,
    agentKey: record.agentKey ?? null,
    status: record.status,
    metadata: record.metadata ?? {},
    summary: record.summary
      ? { text: record.summary.text, throughSeq: record.summary.throughSeq, updatedAt: isoOrNull(record.summary.updatedAt) }
      : null,
    messageCount: record.messageCount,
    lastMessageAt: isoOrNull(record.lastMessageAt),
    lastActivityAt: isoOrNull(record.lastActivityAt),
    createdAt: isoOrNull(record.createdAt),
    updatedAt: isoOrNull(record.updatedAt),
    archivedAt: isoOrNull(record.archivedAt),
    deletedAt: isoOrNull(record.deletedAt),
  };
}

function isoOrNull(value: Date | null | undefined): string | null {
  return value instanceof Date ? value.toISOString() : null;
}
