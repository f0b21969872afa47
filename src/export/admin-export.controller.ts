import { Controller, Get, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ADMIN_ROLE, type AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { ApiErrorResponses } from '../common/errors/api-error-responses.decorator.js';
import { AuditLog } from '../compliance/audit/audit-log.service.js';
import { MessageChangesQuery } from './dto/export.dto.js';
import { CHANGES_SETTLE_MS, ExportService } from './export.service.js';
import { send } from './streaming.js';

@ApiTags('admin')
@ApiBearerAuth()
@ApiErrorResponses(400, 401, 403)
@Controller('chat/admin/export')
export class AdminExportController {
  constructor(
    private readonly exports: ExportService,
    private readonly audit: AuditLog,
  ) {}

  @Get('messages')
  @Roles(ADMIN_ROLE)
  @ApiOperation({
    summary: 'Every message changed since a point in time, as NDJSON, for analytics and BI sync (admin)',
    description:
      'One JSON object per line: the message (REST shape) plus `userId`, `updatedAt` and `exportCursor`, oldest change first. ' +
      'Resume after any line with `cursor=<its exportCursor>`: an interrupted download loses nothing. Changes of the last few ' +
      'seconds are left for the next call (`X-Export-Until` says up to when this one reaches), since writes in flight can commit out of order. ' +
      'Deleted messages do not appear (no tombstones yet). Each call is recorded in the audit log (`admin.read`, with the filter).',
  })
  @ApiOkResponse({ description: 'application/x-ndjson', content: { 'application/x-ndjson': { schema: { type: 'string' } } } })
  async messages(@CurrentUser() admin: AuthenticatedUser, @Query() query: MessageChangesQuery, @Res() response: Response): Promise<void> {
    const until = new Date(Date.now() - CHANGES_SETTLE_MS);
    const lines = this.exports.changes(query, until);
    // Decoding a bad cursor must answer 400 before any header is sent.
    const first = await lines.next();
    // Every user's messages: no message leaves before the read is on record.
    await this.audit.record({
      action: 'admin.read',
      actor: { userId: admin.id, roles: admin.roles },
      subjectUserId: null,
      target: { type: 'messages', id: 'all-users' },
      details: {
        route: 'GET /api/v1/chat/admin/export/messages',
        filter: {
          ...(query.updatedSince !== undefined ? { updatedSince: query.updatedSince } : {}),
          ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
          ...(query.limit !== undefined ? { limit: query.limit } : {}),
          until: until.toISOString(),
        },
      },
    });
    response.status(200);
    response.setHeader('Content-Type', 'application/x-ndjson; charset=utf-8');
    response.setHeader('X-Export-Until', until.toISOString());
    response.setHeader('Cache-Control', 'no-store');
    await send(
      response,
      (async function* () {
        if (!first.done) yield first.value;
        yield* lines;
      })(),
    );
  }
}
