import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { FILE_TYPES, PROCESSING_STATUSES, type FileType, type ProcessingStatus } from '../schemas/attachment.schema.js';

export class ProcessingErrorDto {
  @ApiProperty({ example: 'CORRUPT_FILE' })
  code!: string;

  @ApiProperty({ example: 'The PDF could not be read: it is damaged or truncated.' })
  message!: string;
}

export class ThumbnailInfoDto {
  @ApiProperty({ example: 'image/webp' })
  mimeType!: string;

  @ApiProperty({ example: 256 })
  width!: number;

  @ApiProperty({ example: 192 })
  height!: number;

  @ApiProperty({ example: 'GET /api/v1/chat/attachments/665f.../thumbnail' })
  url!: string;
}

export class AttachmentDto {
  @ApiProperty({ example: '6660a1b29b1d8a00123456aa' })
  id!: string;

  @ApiProperty({ example: '665f1c2e9b1d8a0012345678' })
  conversationId!: string;

  @ApiProperty({ example: '665f1c2e9b1d8a0012345679' })
  messageId!: string;

  @ApiProperty({ enum: FILE_TYPES, example: 'document' })
  fileType!: FileType;

  @ApiProperty({ example: 'application/pdf', description: 'Decided from the file’s bytes.' })
  mimeType!: string;

  @ApiProperty({ example: 'pick-list-aisle-7.pdf', description: 'The uploaded name, sanitised.' })
  originalName!: string;

  @ApiProperty({ example: 48213, description: 'Bytes served by GET .../content.' })
  fileSize!: number;

  @ApiProperty({ example: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' })
  sha256!: string;

  @ApiProperty({ enum: PROCESSING_STATUSES, example: 'processed' })
  processingStatus!: ProcessingStatus;

  @ApiPropertyOptional({
    type: ProcessingErrorDto,
    description:
      'Why processing failed (processingStatus failed): `EMPTY_FILE`, `CORRUPT_FILE`, `INVALID_CONTENT`, `UNSUPPORTED_CONTENT`, ' +
      '`DECOMPRESSION_LIMIT` (unpacks to more than the budget), `IMAGE_TOO_LARGE` (too many pixels), `PARSER_MEMORY_LIMIT`, ' +
      '`PARSER_TIMEOUT`, `PARSER_CRASHED`, `PROCESSING_ERROR`.',
  })
  processingError?: ProcessingErrorDto;

  @ApiPropertyOptional({
    type: Boolean,
    example: true,
    description: 'Present (true) when the file stopped its parser too often and will never be read again; processingStatus is failed.',
  })
  quarantined?: boolean;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description:
      'What processing found: images `width`, `height`, `format`, `ocr` (done | none | unavailable); documents `pages`, `characters`, `truncated`; ' +
      'audio and video `durationSeconds`, `container`, `codec`, `sampleRate`, `channels`, `bitrate`, `width`, `height`.',
  })
  metadata!: Record<string, unknown>;

  @ApiProperty({ type: Boolean, description: 'Whether text was extracted (GET .../attachments/:id?include=text returns it).' })
  hasExtractedText!: boolean;

  @ApiPropertyOptional({ type: String, description: 'The extracted text, when asked for with include=text.' })
  extractedText?: string;

  @ApiPropertyOptional({ type: ThumbnailInfoDto })
  thumbnail?: ThumbnailInfoDto;

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  processedAt!: string | null;
}

export class AttachmentListDto {
  @ApiProperty({ type: [AttachmentDto] })
  items!: AttachmentDto[];
}
