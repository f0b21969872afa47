import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { IntegerParam } from '../../common/validation/integer-param.js';
import { ROLE_NAME_PATTERN } from '../../auth/authenticated-user.js';
import { ConversationDto } from '../../conversations/dto/conversation.dto.js';
import { MAX_QUERY_LENGTH } from '../search-query.js';

const MATCH_SOURCES = ['message', 'attachment', 'title'] as const;
export type MatchSource = (typeof MATCH_SOURCES)[number];

export class SearchQueryDto {
  @ApiProperty({
    description:
      'Words are ANDed; `"exact phrase"`; `-excluded` (word or "phrase"); `prefix*`. Case- and diacritic-insensitive, English stemming ' +
      '(pick = picked = picking). Searches message content, conversation titles and the text of attached files.',
    example: 'damaged "red tote" -pallet',
    maxLength: MAX_QUERY_LENGTH,
  })
  @IsString()
  @MinLength(1)
  @MaxLength(MAX_QUERY_LENGTH)
  q!: string;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'Only matches at or after this time.' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'from must be an ISO 8601 date or date-time' })
  from?: string;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'Only matches at or before this time; not before `from` (400).' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'to must be an ISO 8601 date or date-time' })
  to?: string;

  @ApiPropertyOptional({ example: 'supervisor', description: 'Only conversations with this agent role.' })
  @IsOptional()
  @IsString()
  @Matches(ROLE_NAME_PATTERN, { message: 'role must be a lower-case role name such as warehouse_operator' })
  role?: string;

  @ApiPropertyOptional({ enum: ['active', 'archived'], description: 'Only conversations in this status (default: both).' })
  @IsOptional()
  @IsIn(['active', 'archived'])
  status?: 'active' | 'archived';

  @ApiPropertyOptional({ enum: ['user', 'assistant'], description: 'Only messages of this type (attachments are on user messages).' })
  @IsOptional()
  @IsIn(['user', 'assistant'])
  type?: 'user' | 'assistant';

  @ApiPropertyOptional({ enum: ['true', 'false'], description: 'Only messages with (or without) attached files.' })
  @IsOptional()
  @IsIn(['true', 'false'])
  hasAttachments?: 'true' | 'false';

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @IntegerParam(1, 100)
  limit?: number;

  @ApiPropertyOptional({ minLength: 1, description: 'nextCursor of the previous page (bound to the same query and filters).' })
  @IsOptional()
  @IsString()
  cursor?: string;
}

export class HighlightDto {
  @ApiProperty({ example: 12, description: 'Offset in `text` (UTF-16 code units).' })
  start!: number;

  @ApiProperty({ example: 19, description: 'End offset, exclusive.' })
  end!: number;
}

export class SnippetDto {
  @ApiProperty({ enum: MATCH_SOURCES, description: 'Where the match is: message content, an attached file’s name or text, or the title.' })
  source!: MatchSource;

  @ApiProperty({ type: String, nullable: true })
  messageId!: string | null;

  @ApiProperty({ type: String, nullable: true })
  attachmentId!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'pick-list.pdf' })
  attachmentName!: string | null;

  @ApiProperty({ type: String, nullable: true, enum: ['user', 'assistant', 'system'] })
  messageType!: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  timestamp!: string | null;

  @ApiProperty({ example: '…put a damaged tote on the red shelf…' })
  text!: string;

  @ApiProperty({ type: [HighlightDto] })
  highlights!: HighlightDto[];
}

export class ConversationSearchHitDto {
  @ApiProperty({ type: ConversationDto })
  conversation!: ConversationDto;

  @ApiProperty({ example: 4.5, description: 'Relevance: matching messages and files, a title match counting most.' })
  score!: number;

  @ApiProperty({ example: 3, description: 'Matches found in this conversation (messages, files, title).' })
  matches!: number;

  @ApiProperty({ type: [SnippetDto], description: 'Up to 3, newest first.' })
  snippets!: SnippetDto[];
}

export class ConversationSearchPageDto {
  @ApiProperty({ type: [ConversationSearchHitDto] })
  items!: ConversationSearchHitDto[];

  @ApiProperty({ type: String, nullable: true })
  nextCursor!: string | null;
}

export class MessageSearchHitDto {
  @ApiProperty()
  conversationId!: string;

  @ApiProperty({ type: String, nullable: true })
  conversationTitle!: string | null;

  @ApiProperty()
  messageId!: string;

  @ApiProperty({ type: SnippetDto })
  snippet!: SnippetDto;
}

export class MessageSearchPageDto {
  @ApiProperty({ type: [MessageSearchHitDto] })
  items!: MessageSearchHitDto[];

  @ApiProperty({ type: String, nullable: true })
  nextCursor!: string | null;
}
