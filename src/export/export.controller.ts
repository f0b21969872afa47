import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { ApiErrorResponses } from '../common/errors/api-error-responses.decorator.js';
import { contentDisposition } from '../common/http/content-disposition.js';
import { IdParams } from '../common/mongo/object-id.js';
import { CONVERSATION_EXPORT_FORMATS, ConversationExportQuery, HISTORY_EXPORT_FORMATS, HistoryExportQuery } from './dto/export.dto.js';
import { ExportService } from './export.service.js';
import { exportFileName } from './formats/export-model.js';
import { writeZipHistory } from './formats/zip-history.js';
import { writePdfTranscript } from './formats/pdf-transcript.js';
import { csvDocument, jsonConversation, jsonConversations, markdownConversation } from './formats/text-formats.js';
import { drained, send } from './streaming.js';

const CONTENT_TYPES = {
  json: 'application/json; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  pdf: 'application/pdf',
  zip: 'application/zip',
} as const;

/** How each format is documented: JSON exports are objects (versioned schema), text formats text, the rest bytes. */
const DOCUMENTED_BODY = {
  json: { type: 'object', additionalProperties: true, description: 'The versioned export schema (see README, Export).' },
  csv: { type: 'string' },
  md: { type: 'string' },
  pdf: { type: 'string', format: 'binary' },
  zip: { type: 'string', format: 'binary' },
} as const;

/** The download's documented content types: exactly the formats this route serves. */
const FILE_CONTENT = (description: string, formats: readonly (keyof typeof CONTENT_TYPES)[]) => ({
  description,
  content: Object.fromEntries(formats.map((format) => [CONTENT_TYPES[format].split(';')[0]!, { schema: DOCUMENTED_BODY[format] }])),
});

/** Registered before the conversations module, so `/conversations/export` is not read as `/conversations/:id`. */
@ApiTags('export')
@ApiBearerAuth()
@ApiErrorResponses(400, 401)
@Controller('chat/conversations')
export class ExportController {
  constructor(private readonly exports: ExportService) {}

  @Get('export')
  @ApiOperation({
    summary: 'Export all your conversations (json, csv, or zip with one file per conversation and an index)',
    description:
      'Streams: any size of history is sent as it is read. `from`/`to` keep the messages in that time range and the conversations active in it.',
  })
  @ApiOkResponse(FILE_CONTENT('The export, as a download.', HISTORY_EXPORT_FORMATS))
  async history(@CurrentUser() user: AuthenticatedUser, @Query() query: HistoryExportQuery, @Res() response: Response): Promise<void> {
    const range = ExportService.parseRange(query.from, query.to);
    const format = query.format ?? 'json';
    const sources = this.exports.history(user.id, range);
    const name = `wms-chat-history-${new Date().toISOString().slice(0, 10)}.${format}`;
    startDownload(response, CONTENT_TYPES[format], name);
    if (format === 'zip') {
      await writeZipHistory(response, sources);
      return;
    }
    const requested = { from: range.from?.toISOString() ?? null, to: range.to?.toISOString() ?? null };
    await send(response, format === 'csv' ? csvDocument(sources) : jsonConversations({ userId: user.id, range: requested }, sources));
  }

  @Get(':id/export')
  @ApiOperation({ summary: 'Export one conversation as JSON (versioned schema), CSV, Markdown or PDF' })
  @ApiOkResponse(FILE_CONTENT('The export, as a download.', CONVERSATION_EXPORT_FORMATS))
  @ApiErrorResponses(404)
  async conversation(
    @CurrentUser() user: AuthenticatedUser,
    @Param() { id }: IdParams,
    @Query() query: ConversationExportQuery,
    @Res() response: Response,
  ): Promise<void> {
    const format = query.format ?? 'json';
    const source = await this.exports.conversation(user.id, id);
    startDownload(response, CONTENT_TYPES[format], exportFileName(source.conversation, format));
    if (format === 'pdf') {
      await writePdfTranscript(source, response, () => drained(response));
      return;
    }
    const body = format === 'json' ? jsonConversation(source) : format === 'csv' ? csvDocument([source]) : markdownConversation(source);
    await send(response, body);
  }
}

function startDownload(response: Response, contentType: string, fileName: string): void {
  response.status(200);
  response.setHeader('Content-Type', contentType);
  response.setHeader('Content-Disposition', contentDisposition('attachment', fileName));
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Cache-Control', 'no-store');
}
