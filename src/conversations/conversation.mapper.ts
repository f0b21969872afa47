import { ConversationRecord } from './conversations.repository.js';
import { ConversationDto } from './dto/conversation.dto.js';

export function toConversationDto(record: ConversationRecord): ConversationDto {
  return {
    id: record._id.toHexString(),
    userId: record.userId,
    title: record.title ?? null,
    role: record.role,
    agentKey: record.agentKey ?? null,
    status: record.status,
    metadata: record.metadata ?? {},
    messageCount: record.messageCount,
    lastMessageAt: record.lastMessageAt ? record.lastMessageAt.toISOString() : null,
    createdAt: record.createdAt.toISOString(),
    updatedAt: record.updatedAt.toISOString(),
  };
}
