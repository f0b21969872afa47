import type { AttachmentDto } from '../../attachments/dto/attachment.dto.js';
import type { ConversationDto } from '../../conversations/dto/conversation.dto.js';
import type { MessageDto } from '../../messages/dto/message.dto.js';

/** The documented, versioned export schema (README, Export). Bump the version on any breaking change. */
export const EXPORT_SCHEMA = 'wms-chat-export';
export const EXPORT_SCHEMA_VERSION = 1;

/** An attachment in an export: its metadata, without the extracted text or storage details. */
export type ExportedAttachment = Pick<AttachmentDto, 'id' | 'fileType' | 'mimeType' | 'originalName' | 'fileSize' | 'sha256' | 'createdAt'>;

export interface ExportedMessage extends MessageDto {
  attachments: ExportedAttachment[];
}

export interface ExportSource {
  conversation: ConversationDto;
  messages: AsyncIterable<ExportedMessage>;
}

export function exportedAttachment(attachment: AttachmentDto): ExportedAttachment {
  const { id, fileType, mimeType, originalName, fileSize, sha256, createdAt } = attachment;
  return { id, fileType, mimeType, originalName, fileSize, sha256, createdAt };
}

export function speaker(message: MessageDto): string {
  if (message.type === 'user') return 'User';
  if (message.type === 'system') return 'System';
  return message.generation ? `Assistant (${message.generation.agentKey})` : 'Assistant';
}

/** `2026-11-28 14:05 UTC` */
export function readableTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** A file name that is safe everywhere: the title's words, then the id. */
export function exportFileName(conversation: Pick<ConversationDto, 'id' | 'title'>, extension: string): string {
  const slug = (conversation.title ?? 'conversation')
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^\p{L}\p{N}]+/gu, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
    .toLowerCase();
  return `${slug || 'conversation'}-${conversation.id}.${extension}`;
}
