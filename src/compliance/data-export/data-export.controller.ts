import { Controller, Get, HttpCode, HttpStatus, Param, Post, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { AuthenticatedUser } from '../../auth/authenticated-user.js';
import { CurrentUser } from '../../auth/current-user.decorator.js';
import { ApiErrorResponses } from '../../common/errors/api-error-responses.decorator.js';
import { ErrorResponseDto } from '../../common/errors/error-response.dto.js';
import { sendArchiveWhenItStarts, sendStoredArchive } from './data-export.http.js';
import { DataExportService } from './data-export.service.js';
import { DataExportDto, ExportIdParams } from './dto/data-export.dto.js';

/** The archive as documented: a zip download. */
export const ZIP_DOWNLOAD = {
  description:
    'The zip: `json/*.jsonl`, `csv/*.csv`, `files/...`, `README.md`, `SHA256SUMS` and `manifest.json` (see README, GDPR data export).',
  content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } },
};

export const ApiGoneResponse = () =>
  ApiResponse({
    status: HttpStatus.GONE,
    description: 'The archive expired (code DATA_EXPORT_EXPIRED): request a new export.',
    type: ErrorResponseDto,
  });

export const JOB_LOCATION = {
  Location: { description: 'Where the job’s status can be polled.', schema: { type: 'string' } },
};

/** The caller's own data (GDPR Art. 15/20): at once, or as a job whose archive waits for download. */
@ApiTags('compliance')
@ApiBearerAuth()
@ApiErrorResponses(400, 401)
@Controller('chat/user')
export class DataExportController {
  constructor(private readonly exports: DataExportService) {}

  @Get('data-export')
  @ApiOperation({
    summary: 'Download everything the service holds of you, as one zip (GDPR Art. 15/20)',
    description:
      'Streamed as it is read: conversations and messages, attachments (records and the files themselves), preferences, feedback, ' +
      'export requests and the audit entries about access to your data, as JSON Lines and CSV, with a manifest (counts, SHA-256 of ' +
      'every file) and a README. Errors before the first byte are JSON answers; a failure after it aborts the connection, so an ' +
      'incomplete zip never looks complete. One at a time: 409 DATA_EXPORT_IN_PROGRESS while another download of your data is ' +
      'being streamed, 409 ERASURE_IN_PROGRESS while your data is being erased or anonymised. For large histories, prefer ' +
      '`POST /chat/user/data-export`.',
  })
  @ApiOkResponse(ZIP_DOWNLOAD)
  @ApiErrorResponses(409)
  async now(@CurrentUser() user: AuthenticatedUser, @Res() response: Response): Promise<void> {
    await this.exports.exportNow(user, (fileName, produce) => sendArchiveWhenItStarts(response, fileName, produce));
  }

  @Post('data-export')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Request an export of your data as a job; download it when ready',
    description:
      'One export per user at a time (409 DATA_EXPORT_IN_PROGRESS names the active one in `details.exportId`); 409 ' +
      'ERASURE_IN_PROGRESS while your data is being erased or anonymised. Poll ' +
      '`GET /chat/user/data-exports/{exportId}`, or wait for the `data-export.ready` realtime event; the archive can be ' +
      'downloaded until `expiresAt` (CHAT_DATA_EXPORT_TTL_HOURS after it is ready).',
  })
  @ApiAcceptedResponse({ type: DataExportDto, headers: JOB_LOCATION })
  @ApiErrorResponses(409)
  async request(@CurrentUser() user: AuthenticatedUser, @Res({ passthrough: true }) response: Response): Promise<DataExportDto> {
    const job = await this.exports.request(user.id, user);
    response.setHeader('Location', `/api/v1/chat/user/data-exports/${job.id}`);
    return job;
  }

  @Get('data-exports/:exportId')
  @ApiOperation({
    summary: 'The state and progress of an export of your data that you requested',
    description: 'An export an admin made of your data is not shown here (404): ask the admin, or request your own.',
  })
  @ApiOkResponse({ type: DataExportDto })
  @ApiErrorResponses(404)
  get(@CurrentUser() user: AuthenticatedUser, @Param() { exportId }: ExportIdParams): Promise<DataExportDto> {
    return this.exports.get(exportId, user, 'requester');
  }

  @Get('data-exports/:exportId/download')
  @ApiOperation({
    summary: 'Download the archive of an export of your data that you requested',
    description: '409 DATA_EXPORT_NOT_READY until it is ready (or when it failed); 410 DATA_EXPORT_EXPIRED after `expiresAt`.',
  })
  @ApiOkResponse(ZIP_DOWNLOAD)
  @ApiErrorResponses(404, 409)
  @ApiGoneResponse()
  async download(
    @CurrentUser() user: AuthenticatedUser,
    @Param() { exportId }: ExportIdParams,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const headOnly = request.method === 'HEAD';
    await sendStoredArchive(response, await this.exports.download(exportId, user, 'requester', headOnly), headOnly);
  }
}
