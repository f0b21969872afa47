import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsString, Matches, MaxLength, MinLength, ValidateIf, ValidateNested } from 'class-validator';
import { AGENT_KEY_PATTERN } from '../../agents/dto/agent-input.dto.js';
import { RESPONSE_STYLES, type ResponseStyle } from '../schemas/user-preferences.schema.js';
import { Optional } from '../../common/validation/optional.js';
import { RequiresSomeProperty } from '../../common/openapi/strict-request-bodies.js';

export class NotificationSettingsDto {
  @ApiProperty({ description: 'Notify when a reply completes in a conversation the client does not follow.' })
  @IsBoolean()
  replyCompleted!: boolean;
}

export class LearnedFactDto {
  @ApiProperty({ example: 'f3c2a1b0' })
  id!: string;

  @ApiProperty({ example: 'Works at site DC-01, night shift' })
  text!: string;

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt!: string;
}

export class PreferencesDto {
  @ApiProperty({ type: String, nullable: true, example: 'de' })
  language!: string | null;

  @ApiProperty({ enum: RESPONSE_STYLES, nullable: true })
  responseStyle!: ResponseStyle | null;

  @ApiProperty({ type: String, nullable: true, example: 'picking-assistant' })
  defaultAgentKey!: string | null;

  @ApiProperty({ type: NotificationSettingsDto })
  notifications!: NotificationSettingsDto;

  @ApiProperty({ type: [LearnedFactDto] })
  facts!: LearnedFactDto[];
}

/** PUT replaces every setting; facts are managed through their own routes. */
@RequiresSomeProperty()
export class UpdatePreferencesDto {
  @ApiPropertyOptional({ type: String, nullable: true, example: 'de-AT' })
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @Matches(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, { message: 'language must be a BCP 47 tag such as en or de-AT' })
  language?: string | null;

  @ApiPropertyOptional({ enum: RESPONSE_STYLES, nullable: true })
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsIn(RESPONSE_STYLES)
  responseStyle?: ResponseStyle | null;

  @ApiPropertyOptional({ type: String, nullable: true })
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @Matches(AGENT_KEY_PATTERN, { message: 'defaultAgentKey must be an agent key' })
  defaultAgentKey?: string | null;

  @ApiPropertyOptional({ type: NotificationSettingsDto })
  @Optional()
  @ValidateNested()
  @Type(() => NotificationSettingsDto)
  notifications?: NotificationSettingsDto;
}

export class CreateFactDto {
  @ApiProperty({ example: 'Usually works at site DC-01 on the night shift', maxLength: 300 })
  @IsString()
  @MinLength(1)
  @MaxLength(300)
  text!: string;
}

export class FactIdParams {
  @ApiProperty()
  @IsString()
  @Matches(/^[0-9a-f]{16}$/, { message: 'factId must be a fact id' })
  factId!: string;
}
