import { MessageDto } from './dto/message.dto.js';
import { MessageRecord } from './messages.repository.js';

export function toMessageDto(record: MessageRecord): MessageDto {
  const dto: MessageDto = {
    id: record._id.toHexString(),
    conversationId: record.conversationId.toHexString(),
    type: record.type,
    content: record.content ?? '',
    status: record.status ?? 'completed',
    metadata: record.metadata ?? {},
    timestamp: record.timestamp.toISOString(),
    seq: record.seq,
    attachmentCount: record.attachmentCount ?? 0,
  };
  if (record.tokensUsed) {
    const { prompt, completion, total } = record.tokensUsed;
    dto.tokensUsed = { prompt, completion, total };
  }
  if (record.processingTime !== undefined && record.processingTime !== null) dto.processingTime = record.processingTime;
  if (record.error) dto.error = { code: record.error.code, message: record.error.message };
  if (record.generation) {
    const { agentKey, agentVersion, provider, model, finishReason, timeToFirstToken, attempt } = record.generation;
    dto.generation = {
      agentKey,
      agentVersion,
      provider,
      model: model ?? null,
      finishReason: finishReason ?? null,
      timeToFirstToken: timeToFirstToken ?? null,
      attempt: attempt ?? 1,
    };
  }
  return dto;
}
