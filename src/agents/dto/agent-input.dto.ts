import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { ROLE_NAME_PATTERN } from '../../auth/authenticated-user.js';
import { AGENT_PROVIDERS, type AgentProvider } from '../schemas/agent.schema.js';
import { Optional } from '../../common/validation/optional.js';
import { RequiresSomeProperty } from '../../common/openapi/strict-request-bodies.js';

/** `admin` is taken by the route that lists every agent. */
export const AGENT_KEY_PATTERN = /^(?!admin$)[a-z0-9][a-z0-9-]{1,63}$/;

export class KnowledgeEntryInput {
  @ApiProperty({ example: 'pick-22' })
  @IsString()
  @Matches(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'id must be 1-64 letters, digits, _, . or -' })
  id!: string;

  @ApiProperty()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  title!: string;

  @ApiProperty()
  @IsString()
  @MinLength(1)
  @MaxLength(4000)
  content!: string;

  @ApiPropertyOptional({ type: [String] })
  @Optional()
  @IsArray()
  @ArrayMaxSize(30)
  @IsString({ each: true })
  @MaxLength(40, { each: true })
  tags?: string[];
}

export class CreateAgentDto {
  @ApiProperty({ example: 'returns-assistant', description: 'Lower-case letters, digits and dashes.' })
  @IsString()
  @Matches(AGENT_KEY_PATTERN, { message: 'key must be 2-64 lower-case letters, digits or dashes' })
  key!: string;

  @ApiProperty()
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  name!: string;

  @ApiPropertyOptional()
  @Optional()
  @IsString()
  @MaxLength(1000)
  description?: string;

  @ApiProperty({ type: [String], example: ['warehouse_operator'] })
  @IsArray()
  @ArrayMaxSize(20)
  @Matches(ROLE_NAME_PATTERN, { each: true, message: 'each role must be a lower-case role name' })
  allowedRoles!: string[];

  @ApiPropertyOptional({ type: [String] })
  @Optional()
  @IsArray()
  @ArrayMaxSize(20)
  @Matches(ROLE_NAME_PATTERN, { each: true, message: 'each role must be a lower-case role name' })
  defaultForRoles?: string[];

  @ApiProperty()
  @IsString()
  @MinLength(1)
  @MaxLength(20000)
  systemPrompt!: string;

  @ApiProperty({ enum: AGENT_PROVIDERS })
  @IsIn(AGENT_PROVIDERS)
  provider!: AgentProvider;

  @ApiPropertyOptional({ type: String, nullable: true })
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @MaxLength(200)
  model?: string | null;

  @ApiPropertyOptional({ minimum: 0, maximum: 2, default: 0.2 })
  @Optional()
  @IsNumber()
  @Min(0)
  @Max(2)
  temperature?: number;

  @ApiPropertyOptional({ minimum: 16, maximum: 32000, default: 512 })
  @Optional()
  @IsInt()
  @Min(16)
  @Max(32000)
  maxTokens?: number;

  @ApiPropertyOptional({ minimum: 512, maximum: 2000000, default: 8192 })
  @Optional()
  @IsInt()
  @Min(512)
  @Max(2_000_000)
  contextTokens?: number;

  @ApiPropertyOptional({ type: [KnowledgeEntryInput] })
  @Optional()
  @IsArray()
  @ArrayMaxSize(500)
  @ValidateNested({ each: true })
  @Type(() => KnowledgeEntryInput)
  knowledgeBase?: KnowledgeEntryInput[];

  @ApiPropertyOptional({ default: true })
  @Optional()
  @IsBoolean()
  enabled?: boolean;
}

/** Every property optional; one sent as `null` is still validated (so `{"enabled": null}` is a 400), except the nullable `model`. */
@RequiresSomeProperty()
export class UpdateAgentDto extends PartialType(OmitType(CreateAgentDto, ['key'] as const), { skipNullProperties: false }) {}

export class AgentKeyParams {
  @ApiProperty({ example: 'picking-assistant' })
  @IsString()
  @Matches(AGENT_KEY_PATTERN, { message: 'key must be 2-64 lower-case letters, digits or dashes' })
  key!: string;
}

export class AgentVersionParams extends AgentKeyParams {
  @ApiProperty({ example: 3 })
  @Type(() => Number)
  @IsInt()
  @Min(1)
  version!: number;
}
