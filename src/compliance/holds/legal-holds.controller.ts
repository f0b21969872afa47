import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ADMIN_ROLE } from '../../auth/authenticated-user.js';
import type { AuthenticatedUser } from '../../auth/authenticated-user.js';
import { CurrentUser } from '../../auth/current-user.decorator.js';
import { Roles } from '../../auth/roles.decorator.js';
import { ApiErrorResponses } from '../../common/errors/api-error-responses.decorator.js';
import type { Page } from '../../common/pagination/cursor.js';
import {
  LegalHoldDto,
  LegalHoldPageDto,
  LegalHoldParams,
  ListLegalHoldsQuery,
  PlaceLegalHoldDto,
  ReleaseLegalHoldDto,
  ReleasedLegalHoldDto,
} from './dto/legal-hold.dto.js';
import { LegalHoldsService } from './legal-holds.service.js';

@ApiTags('admin')
@ApiBearerAuth()
@ApiErrorResponses(400, 401, 403)
@Roles(ADMIN_ROLE)
@Controller('chat/admin/legal-holds')
export class LegalHoldsController {
  constructor(private readonly holds: LegalHoldsService) {}

  @Post()
  @ApiOperation({
    summary: 'Place a legal hold on a user or a conversation (admin)',
    description:
      'While the hold is in force nothing it covers is purged by retention, erased or anonymised (409 LEGAL_HOLD naming the hold). ' +
      'A hold on a user covers all their data; a hold on a conversation covers it and blocks erasing or anonymising its owner. ' +
      'A conversation id that names no conversation is held all the same (it may come back from a backup): `targetFound` says false. ' +
      'Recorded in the audit log (`legal-hold.placed`).',
  })
  @ApiCreatedResponse({ type: LegalHoldDto })
  place(@CurrentUser() admin: AuthenticatedUser, @Body() dto: PlaceLegalHoldDto): Promise<LegalHoldDto> {
    return this.holds.place(admin, dto);
  }

  @Get()
  @ApiOperation({
    summary: 'Legal holds, newest first (admin)',
    description: 'Filter by `active`, `target` and `targetId`; cursor pagination.',
  })
  @ApiOkResponse({ type: LegalHoldPageDto })
  list(@Query() query: ListLegalHoldsQuery): Promise<Page<LegalHoldDto>> {
    return this.holds.list(query);
  }

  @Get(':holdId')
  @ApiOperation({ summary: 'One legal hold (admin)' })
  @ApiOkResponse({ type: LegalHoldDto })
  @ApiErrorResponses(404)
  get(@Param() { holdId }: LegalHoldParams): Promise<LegalHoldDto> {
    return this.holds.get(holdId);
  }

  @Post(':holdId/release')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Release a legal hold, with a reason (admin)',
    description:
      'From now on what the hold covered follows the retention policies again (the next retention run may purge it). ' +
      'Releasing a hold released before changes nothing and answers it as it is, with `alreadyReleased: true`. ' +
      'Recorded in the audit log (`legal-hold.released`).',
  })
  @ApiOkResponse({ type: ReleasedLegalHoldDto })
  @ApiErrorResponses(404)
  release(
    @CurrentUser() admin: AuthenticatedUser,
    @Param() { holdId }: LegalHoldParams,
    @Body() dto: ReleaseLegalHoldDto,
  ): Promise<ReleasedLegalHoldDto> {
    return this.holds.release(admin, holdId, dto);
  }
}
