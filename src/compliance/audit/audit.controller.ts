import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ADMIN_ROLE, type AuthenticatedUser } from '../../auth/authenticated-user.js';
import { CurrentUser } from '../../auth/current-user.decorator.js';
import { Roles } from '../../auth/roles.decorator.js';
import { ApiErrorResponses } from '../../common/errors/api-error-responses.decorator.js';
import { AuditQueries } from './audit-queries.service.js';
import { AuditListQuery, AuditPageDto } from './dto/audit.dto.js';

@ApiTags('admin')
@ApiBearerAuth()
@ApiErrorResponses(400, 401, 403)
@Controller('chat/admin/audit')
export class AuditController {
  constructor(private readonly queries: AuditQueries) {}

  @Get()
  @Roles(ADMIN_ROLE)
  @ApiOperation({
    summary: 'The audit log, newest first (admin)',
    description:
      'Admin reads of other users’ data, data exports, erasures, anonymisations, retention runs and policies, legal holds, ' +
      'agent changes, bursts of failed authentication, and the log’s own pruning. Each entry carries the hash of the one before ' +
      '(`npm run audit:verify` checks the chain). Users are matched by the keyed hash of their id, so entries about an erased ' +
      'user (which keep only the hash) are found too. Plain ids are answered where still present. Listing the log is itself ' +
      'recorded (`admin.read`, on the first page of a listing), naming the users searched for by their keyed hash only, so ' +
      'searching for an erased user does not write their id back.',
  })
  @ApiOkResponse({ type: AuditPageDto })
  list(@CurrentUser() admin: AuthenticatedUser, @Query() query: AuditListQuery): Promise<AuditPageDto> {
    return this.queries.list(admin, query);
  }
}
