import { Controller, Get, HttpCode, HttpStatus, Param, Post, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ADMIN_ROLE, type AuthenticatedUser } from '../../auth/authenticated-user.js';
import { CurrentUser } from '../../auth/current-user.decorator.js';
import { Roles } from '../../auth/roles.decorator.js';
import { ApiErrorResponses } from '../../common/errors/api-error-responses.decorator.js';
import { ApiGoneResponse, JOB_LOCATION, ZIP_DOWNLOAD } from './data-export.controller.js';
import { sendStoredArchive } from './data-export.http.js';
import { DataExportService } from './data-export.service.js';
import { DataExportDto, ExportIdParams, UserIdParams } from './dto/data-export.dto.js';

/** Admins export any user's data (a data-protection officer answering a request) and see every export job. */
@ApiTags('admin')
@ApiBearerAuth()
@ApiErrorResponses(400, 401, 403)
@Roles(ADMIN_ROLE)
@Controller('chat/admin')
export class AdminDataExportController {
  constructor(private readonly exports: DataExportService) {}

  @Post('users/:userId/data-export')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Export a user’s data as a job (admin)',
    description:
      'One export per user at a time (409 DATA_EXPORT_IN_PROGRESS names the active one in `details.exportId`); 409 ' +
      'ERASURE_IN_PROGRESS while the user is being erased or anonymised. The admin who ' +
      'asked is notified (`data-export.ready`) and downloads it from `GET /chat/admin/data-exports/{exportId}/download`. ' +
      'Recorded in the audit log, as is every download.',
  })
  @ApiAcceptedResponse({ type: DataExportDto, headers: JOB_LOCATION })
  @ApiErrorResponses(409)
  async request(
    @CurrentUser() admin: AuthenticatedUser,
    @Param() { userId }: UserIdParams,
    @Res({ passthrough: true }) response: Response,
  ): Promise<DataExportDto> {
    const job = await this.exports.request(userId, admin);
    response.setHeader('Location', `/api/v1/chat/admin/data-exports/${job.id}`);
    return job;
  }

  @Get('data-exports/:exportId')
  @ApiOperation({ summary: 'The state and progress of any data export (admin)' })
  @ApiOkResponse({ type: DataExportDto })
  @ApiErrorResponses(404)
  get(@CurrentUser() admin: AuthenticatedUser, @Param() { exportId }: ExportIdParams): Promise<DataExportDto> {
    return this.exports.get(exportId, admin, 'admin');
  }

  @Get('data-exports/:exportId/download')
  @ApiOperation({
    summary: 'Download the archive of any data export (admin)',
    description: '409 DATA_EXPORT_NOT_READY until it is ready (or when it failed); 410 DATA_EXPORT_EXPIRED after `expiresAt`.',
  })
  @ApiOkResponse(ZIP_DOWNLOAD)
  @ApiErrorResponses(404, 409)
  @ApiGoneResponse()
  async download(
    @CurrentUser() admin: AuthenticatedUser,
    @Param() { exportId }: ExportIdParams,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const headOnly = request.method === 'HEAD';
    await sendStoredArchive(response, await this.exports.download(exportId, admin, 'admin', headOnly), headOnly);
  }
}
