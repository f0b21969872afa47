import type { AttachmentRecord } from './attachments.repository.js';
import { AttachmentDto } from './dto/attachment.dto.js';

export const ATTACHMENTS_ROUTE = '/api/v1/chat/attachments';

export function toAttachmentDto(record: AttachmentRecord, options: { includeText?: boolean } = {}): AttachmentDto {
  const id = record._id.toHexString();
  const dto: AttachmentDto = {
    id,
    conversationId: record.conversationId.toHexString(),
    messageId: record.messageId.toHexString(),
    fileType: record.fileType,
    mimeType: record.mimeType,
    originalName: record.originalName,
    fileSize: record.fileSize,
    sha256: record.sha256,
    processingStatus: record.processingStatus,
    metadata: record.metadata ?? {},
    hasExtractedText: typeof record.extractedText === 'string' && record.extractedText.length > 0,
    createdAt: record.createdAt.toISOString(),
    processedAt: record.processedAt ? record.processedAt.toISOString() : null,
  };
  if (record.processingError) dto.processingError = { code: record.processingError.code, message: record.processingError.message };
  if (record.quarantined) dto.quarantined = true;
  if (options.includeText && dto.hasExtractedText) dto.extractedText = record.extractedText!;
  if (record.thumbnail) {
    const { mimeType, width, height } = record.thumbnail;
    dto.thumbnail = { mimeType, width, height, url: `${ATTACHMENTS_ROUTE}/${id}/thumbnail` };
  }
  return dto;
}
