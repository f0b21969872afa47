import { MessageDto } from './dto/message.dto.js';
import { MessageRecord } from './messages.repository.js';

export function toMessageDto(record: MessageRecord): MessageDto {
  const dto: MessageDto = {
    id: record._id.toHexString(),
    conversationId: record.conversationId.toHexString(),
    type: record.type,
    content: record.content,
    metadata: record.metadata ?? {},
    timestamp: record.timestamp.toISOString(),
    seq: record.seq,
  };
  if (record.tokensUsed) {
    const { prompt, completion, total } = record.tokensUsed;
    dto.tokensUsed = { prompt, completion, total };
  }
  if (record.processingTime !== undefined && record.processingTime !== null) dto.processingTime = record.processingTime;
  return dto;
}
