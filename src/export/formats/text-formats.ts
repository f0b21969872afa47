import type { ConversationDto } from '../../conversations/dto/conversation.dto.js';
import { CSV_BOM, csvRow } from './csv.js';
import { EXPORT_SCHEMA, EXPORT_SCHEMA_VERSION, ExportSource, ExportedMessage, readableTime, speaker } from './export-model.js';

/** Streamed writers: each yields the document in pieces, holding one message at a time. */

export const CSV_HEADER = [
  'conversation_id',
  'conversation_title',
  'message_id',
  'seq',
  'timestamp',
  'type',
  'status',
  'agent',
  'content',
  'attachments',
] as const;

export async function* csvDocument(sources: AsyncIterable<ExportSource> | Iterable<ExportSource>): AsyncGenerator<string> {
  yield CSV_BOM + csvRow(CSV_HEADER);
  for await (const { conversation, messages } of sources) {
    for await (const message of messages) {
      yield csvRow([
        conversation.id,
        conversation.title ?? '',
        message.id,
        message.seq,
        message.timestamp,
        message.type,
        message.status,
        message.generation?.agentKey ?? '',
        message.content,
        message.attachments.map((attachment) => attachment.originalName).join('; '),
      ]);
    }
  }
}

export function jsonHeader(extra: Record<string, unknown>): string {
  return `{"schema":${JSON.stringify(EXPORT_SCHEMA)},"version":${EXPORT_SCHEMA_VERSION},"exportedAt":${JSON.stringify(new Date().toISOString())}${Object.entries(
    extra,
  )
    .map(([key, value]) => `,${JSON.stringify(key)}:${JSON.stringify(value)}`)
    .join('')}`;
}

/** `{ schema, version, exportedAt, conversation, messages: [...] }` */
export async function* jsonConversation(source: ExportSource): AsyncGenerator<string> {
  yield `${jsonHeader({ conversation: source.conversation })},"messages":[`;
  yield* jsonMessages(source.messages);
  yield ']}\n';
}

/** `{ schema, version, exportedAt, userId, range, conversations: [{ ...conversation, messages: [...] }] }` */
export async function* jsonConversations(extra: Record<string, unknown>, sources: AsyncIterable<ExportSource>): AsyncGenerator<string> {
  yield `${jsonHeader(extra)},"conversations":[`;
  let first = true;
  for await (const { conversation, messages } of sources) {
    const head = JSON.stringify(conversation).slice(0, -1);
    yield `${first ? '' : ','}${head},"messages":[`;
    yield* jsonMessages(messages);
    yield ']}';
    first = false;
  }
  yield ']}\n';
}

async function* jsonMessages(messages: AsyncIterable<ExportedMessage>): AsyncGenerator<string> {
  let first = true;
  for await (const message of messages) {
    yield `${first ? '' : ','}${JSON.stringify(message)}`;
    first = false;
  }
}

/** A readable Markdown transcript. */
export async function* markdownConversation(source: ExportSource): AsyncGenerator<string> {
  const { conversation } = source;
  yield `# ${conversation.title ?? 'Untitled conversation'}\n\n${metadataLines(conversation)
    .map(([label, value]) => `- **${label}:** ${value}`)
    .join('\n')}\n`;
  for await (const message of source.messages) {
    const status = message.status === 'completed' ? '' : ` _(${message.status}${message.error ? `: ${message.error.message}` : ''})_`;
    let block = `\n---\n\n**${speaker(message)}** · ${readableTime(message.timestamp)}${status}\n\n${message.content || '_(no text)_'}\n`;
    if (message.attachments.length > 0) {
      block += `\nAttachments:\n${message.attachments.map((a) => `- ${a.originalName} (${a.mimeType}, ${formatBytes(a.fileSize)})`).join('\n')}\n`;
    }
    yield block;
  }
}

export function metadataLines(conversation: ConversationDto): [string, string][] {
  return [
    ['Conversation', conversation.id],
    ['Agent', `${conversation.agentKey ?? 'none'} (role ${conversation.role})`],
    ['Started', readableTime(conversation.createdAt)],
    ['Last message', conversation.lastMessageAt ? readableTime(conversation.lastMessageAt) : 'none'],
    ['Messages', String(conversation.messageCount)],
    ['Exported', readableTime(new Date().toISOString())],
  ];
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
