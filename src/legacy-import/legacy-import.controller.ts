import { Controller, Get, HttpCode, HttpStatus, Param, Post, Query, Req, Res, StreamableFile } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ADMIN_ROLE, type AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { ApiErrorResponses } from '../common/errors/api-error-responses.decorator.js';
import { LegacyImportIdParams, LegacyImportQuery, LegacyImportRunDto } from './dto/legacy-import-run.dto.js';
import { DEFAULT_LEGACY_ROLE } from './legacy-import-report.js';
import { LegacyImportRunner } from './legacy-import-runner.js';

const FORMAT =
  'The dump maps user ids to their conversations, in any of three shapes (they may differ per user): `{user: [message, ...]}` ' +
  '(one running conversation), `{user: [{conversation_id?, title?, messages: [...]}, ...]}` and `{user: {conversation_id: [...] | ' +
  '{title?, messages: [...]}}}`. A message has `role` or `type` (user; assistant, bot; system) and `content`, `message` or `text`, or pairs ' +
  '`query` with `response` (two messages); `timestamp` as ISO 8601, Python `str(datetime)` (UTC unless it has an offset), epoch seconds ' +
  'or milliseconds, or none (dated at the upload); `tokens_used` and `processing_time` (seconds) are kept, other fields go to ' +
  '`metadata.legacy`. Every record gets a stable key: importing the same dump again (grown or not) writes only what is new, and users ' +
  'erased or anonymised here are never imported again.';

/** The legacy store's dump, imported by an admin who cannot run `npm run import:legacy` on the server. */
@ApiTags('admin')
@ApiBearerAuth()
@ApiErrorResponses(400, 401, 403)
@Roles(ADMIN_ROLE)
@Controller('chat/admin/import/legacy')
export class LegacyImportController {
  constructor(private readonly runner: LegacyImportRunner) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Import the legacy store’s dump (chat_backup.json) (admin)',
    description:
      `multipart/form-data with the dump in the field \`file\` (at most CHAT_LEGACY_IMPORT_MAX_MB). ${FORMAT} The upload is stored, then ` +
      'imported in the background (resumed after a restart): follow it at `GET /chat/admin/import/legacy/{importId}` (the `Location` ' +
      'header); the report lists every rejected or skipped record with its JSON path and reason. Uploaded dumps are removed once ' +
      'imported; runs, reports and dumps of failed runs 7 days after they finished. Recorded in the audit log.',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    schema: {
      type: 'object',
      required: ['file'],
      additionalProperties: false,
      properties: { file: { type: 'string', format: 'binary', description: 'The legacy dump (JSON).' } },
    },
  })
  @ApiAcceptedResponse({
    type: LegacyImportRunDto,
    headers: { Location: { description: 'Where the import can be followed.', schema: { type: 'string' } } },
  })
  @ApiErrorResponses(413, 415)
  async start(
    @CurrentUser() admin: AuthenticatedUser,
    @Query() query: LegacyImportQuery,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<LegacyImportRunDto> {
    const run = await this.runner.start(admin, request, {
      dryRun: query.dryRun === 'true',
      defaultRole: query.role ?? DEFAULT_LEGACY_ROLE,
    });
    response.setHeader('Location', `/api/v1/chat/admin/import/legacy/${run.id}`);
    return run;
  }

  @Get(':importId')
  @ApiOperation({ summary: 'The state, progress and counts of a legacy import (admin)' })
  @ApiOkResponse({ type: LegacyImportRunDto })
  @ApiErrorResponses(404)
  get(@Param() { importId }: LegacyImportIdParams): Promise<LegacyImportRunDto> {
    return this.runner.get(importId);
  }

  @Get(':importId/report')
  @ApiOperation({
    summary: 'The report of a legacy import (admin)',
    description:
      'JSON: `problems` (each rejected or skipped record: `path`, `outcome`, `reason`), written as the run goes, then `complete`, ' +
      '`error`, `shapes` and `counts` once it is over. 404 until the run has started.',
  })
  @ApiOkResponse({ description: 'The report.', content: { 'application/json': { schema: { type: 'object' } } } })
  @ApiErrorResponses(404)
  async report(@Param() { importId }: LegacyImportIdParams): Promise<StreamableFile> {
    const { stream, size } = await this.runner.report(importId);
    return new StreamableFile(stream, { type: 'application/json', length: size });
  }
}
