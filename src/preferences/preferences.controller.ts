import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { ApiErrorResponses } from '../common/errors/api-error-responses.decorator.js';
import { CreateFactDto, FactIdParams, LearnedFactDto, PreferencesDto, UpdatePreferencesDto } from './dto/preferences.dto.js';
import { PreferencesService } from './preferences.service.js';

@ApiTags('preferences')
@ApiBearerAuth()
@ApiErrorResponses(400, 401)
@Controller('chat/user/preferences')
export class PreferencesController {
  constructor(private readonly preferences: PreferencesService) {}

  @Get()
  @ApiOperation({ summary: 'Your preferences and the facts you agreed to keep' })
  @ApiOkResponse({ type: PreferencesDto })
  get(@CurrentUser() user: AuthenticatedUser): Promise<PreferencesDto> {
    return this.preferences.get(user.id);
  }

  @Put()
  @ApiOperation({ summary: 'Replace your preferences (facts are kept)' })
  @ApiOkResponse({ type: PreferencesDto })
  replace(@CurrentUser() user: AuthenticatedUser, @Body() dto: UpdatePreferencesDto): Promise<PreferencesDto> {
    return this.preferences.replace(user.id, dto);
  }

  @Post('facts')
  @ApiOperation({ summary: 'Keep a fact about you for every conversation (at most 50)' })
  @ApiCreatedResponse({ type: LearnedFactDto })
  @ApiErrorResponses(409)
  addFact(@CurrentUser() user: AuthenticatedUser, @Body() dto: CreateFactDto): Promise<LearnedFactDto> {
    return this.preferences.addFact(user.id, dto);
  }

  @Delete('facts/:factId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Forget a fact' })
  @ApiNoContentResponse()
  @ApiErrorResponses(404)
  async removeFact(@CurrentUser() user: AuthenticatedUser, @Param() { factId }: FactIdParams): Promise<void> {
    await this.preferences.removeFact(user.id, factId);
  }
}
