import { ApiProperty } from '@nestjs/swagger';
import { AGENT_PROVIDERS, type AgentProvider } from '../schemas/agent.schema.js';

export class KnowledgeEntryDto {
  @ApiProperty({ example: 'pick-02' })
  id!: string;

  @ApiProperty({ example: 'Short pick (not enough stock at the location)' })
  title!: string;

  @ApiProperty()
  content!: string;

  @ApiProperty({ type: [String], example: ['short', 'pick'] })
  tags!: string[];
}

/** What any user may see of an agent they can talk to. */
export class AgentSummaryDto {
  @ApiProperty({ example: 'picking-assistant' })
  key!: string;

  @ApiProperty({ example: 'Picking & packing assistant' })
  name!: string;

  @ApiProperty()
  description!: string;

  @ApiProperty({ type: [String], example: ['warehouse_operator', 'supervisor'] })
  allowedRoles!: string[];

  @ApiProperty({ type: [String], example: ['warehouse_operator'], description: 'Roles for which this is the default agent.' })
  defaultForRoles!: string[];

  @ApiProperty({ example: 3 })
  version!: number;
}

/** The whole agent, for admins. */
export class AgentDto extends AgentSummaryDto {
  @ApiProperty()
  systemPrompt!: string;

  @ApiProperty({ enum: AGENT_PROVIDERS })
  provider!: AgentProvider;

  @ApiProperty({ type: String, nullable: true, description: 'Null: LLM_MODEL.' })
  model!: string | null;

  @ApiProperty({ example: 0.2 })
  temperature!: number;

  @ApiProperty({ example: 512 })
  maxTokens!: number;

  @ApiProperty({ example: 8192 })
  contextTokens!: number;

  @ApiProperty({ type: [KnowledgeEntryDto] })
  knowledgeBase!: KnowledgeEntryDto[];

  @ApiProperty()
  enabled!: boolean;

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ type: String, format: 'date-time' })
  updatedAt!: string;
}

/** The exact settings one agent version answered with (what `generation.agentVersion` points at). */
export class AgentVersionDto {
  @ApiProperty({ example: 'picking-assistant' })
  agentKey!: string;

  @ApiProperty({ example: 3 })
  version!: number;

  @ApiProperty()
  systemPrompt!: string;

  @ApiProperty({ enum: AGENT_PROVIDERS })
  provider!: AgentProvider;

  @ApiProperty({ type: String, nullable: true })
  model!: string | null;

  @ApiProperty()
  temperature!: number;

  @ApiProperty()
  maxTokens!: number;

  @ApiProperty()
  contextTokens!: number;

  @ApiProperty({ type: [KnowledgeEntryDto] })
  knowledgeBase!: KnowledgeEntryDto[];

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt!: string;
}
