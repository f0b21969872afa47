import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { AGENT_KEY_PATTERN } from '../../../agents/dto/agent-input.dto.js';
import { ROLE_NAME_PATTERN } from '../../../auth/authenticated-user.js';
import { IntegerParam } from '../../../common/validation/integer-param.js';
import { Optional } from '../../../common/validation/optional.js';
import { RETENTION_ACTIONS, RETENTION_SCOPES, type RetentionAction, type RetentionScope } from '../schemas/retention-policy.schema.js';

export const MAX_RETENTION_DAYS = 36_500;
/** Conversations a retention preview examines at most, across its passes: one admin request is bounded work. */
export const MAX_PREVIEW_CONVERSATIONS = 10_000;
const MAX_PREVIEW_CONVERSATIONS_TEXT = MAX_PREVIEW_CONVERSATIONS.toLocaleString('en-US');
/** What a pass of a retention run covers: the default, an override, or conversations deleted for good. */
export const RETENTION_PASS_KINDS = ['agent', 'role', 'default', 'permanently-deleted'] as const;
export type RetentionPassKind = (typeof RETENTION_PASS_KINDS)[number];

const COUNTS_SCHEMA = {
  type: 'object',
  additionalProperties: { type: 'integer', minimum: 0 },
  example: { chat_conversations: 12, chat_messages: 340, 'files:attachments': 5 },
} as const;

export const PRECEDENCE =
  'Which period applies to a conversation: the override of its agent if there is one, else the override of its role, ' +
  'else the default (CHAT_RETENTION_DAYS, action delete). Conversations deleted with permanent=true are purged once ' +
  'CHAT_PERMANENT_DELETE_GRACE_MINUTES have passed since, whatever the policy, and also while ENABLE_DATA_RETENTION is off. ' +
  'Nothing under a legal hold is touched.';

export class PutRetentionPolicyDto {
  @ApiProperty({
    minimum: 1,
    maximum: MAX_RETENTION_DAYS,
    example: 90,
    description: 'Days after its last activity a conversation is kept.',
  })
  @IsInt()
  @Min(1)
  @Max(MAX_RETENTION_DAYS)
  days!: number;

  @ApiPropertyOptional({
    enum: RETENTION_ACTIONS,
    default: 'delete',
    description:
      '`delete`: the conversation is purged with everything under it (messages, attachments and files, feedback, search terms). ' +
      '`anonymise`: it is kept, its owner replaced by an irreversible pseudonym and personal data in it masked; refused with 409 ' +
      'ANONYMIZATION_DISABLED while CHAT_ANONYMIZATION_ENABLED is off.',
  })
  @Optional()
  @IsIn(RETENTION_ACTIONS)
  action?: RetentionAction;
}

export class RolePolicyParams {
  @ApiProperty({ example: 'warehouse_operator', description: 'A WMS role: the role conversations were started with.' })
  @IsString()
  @Matches(ROLE_NAME_PATTERN, { message: 'key must be a lower-case role name such as warehouse_operator' })
  key!: string;
}

export class AgentPolicyParams {
  @ApiProperty({ example: 'picking-assistant', description: 'An agent key (it need not exist any more: its conversations may).' })
  @IsString()
  @Matches(AGENT_KEY_PATTERN, { message: 'key must be 2-64 lower-case letters, digits or dashes' })
  key!: string;
}

export class RetentionPreviewQuery {
  @ApiPropertyOptional({ minimum: 0, maximum: 100, default: 10, description: 'Conversation ids listed per policy as a sample.' })
  @IsOptional()
  @IntegerParam(0, 100)
  limit?: number;
}

export class PolicyEditorDto {
  @ApiProperty({ example: 'compliance-officer' })
  userId!: string;

  @ApiProperty({ type: [String], example: ['admin'] })
  roles!: string[];
}

export class RetentionPolicyDto {
  @ApiProperty({ enum: RETENTION_SCOPES })
  scope!: RetentionScope;

  @ApiProperty({ example: 'supervisor' })
  key!: string;

  @ApiProperty({ example: 90 })
  days!: number;

  @ApiProperty({ enum: RETENTION_ACTIONS })
  action!: RetentionAction;

  @ApiProperty({ type: PolicyEditorDto, description: 'The admin who set it last.' })
  updatedBy!: PolicyEditorDto;

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ type: String, format: 'date-time' })
  updatedAt!: string;
}

export class DefaultRetentionPolicyDto {
  @ApiProperty({ example: 365, description: 'CHAT_RETENTION_DAYS.' })
  days!: number;

  @ApiProperty({ enum: ['delete'] })
  action!: 'delete';
}

export class RetentionPoliciesDto {
  @ApiProperty({
    description:
      'ENABLE_DATA_RETENTION: whether runs apply the period policies. Conversations deleted with permanent=true are purged after ' +
      'the grace either way; the preview works either way.',
  })
  enabled!: boolean;

  @ApiProperty({ description: 'CHAT_ANONYMIZATION_ENABLED: whether `anonymise` overrides can be set and are carried out.' })
  anonymizationEnabled!: boolean;

  @ApiProperty({ example: '30 3 * * *', description: 'CHAT_RETENTION_CRON: when the job runs.' })
  cron!: string;

  @ApiProperty({ example: 60, description: 'CHAT_PERMANENT_DELETE_GRACE_MINUTES.' })
  permanentDeleteGraceMinutes!: number;

  @ApiProperty({ type: DefaultRetentionPolicyDto })
  default!: DefaultRetentionPolicyDto;

  @ApiProperty({ type: [RetentionPolicyDto], description: 'Overrides, by scope then key.' })
  overrides!: RetentionPolicyDto[];

  @ApiProperty({ example: PRECEDENCE })
  precedence!: string;
}

export class RetentionPassDto {
  @ApiProperty({
    enum: RETENTION_PASS_KINDS,
    description: 'The policy this pass applies; `permanently-deleted` is the purge of deleted conversations.',
  })
  policy!: RetentionPassKind;

  @ApiProperty({ type: String, nullable: true, description: 'The role or agent of an override; null otherwise.' })
  key!: string | null;

  @ApiProperty({ type: Number, nullable: true, description: 'The period in days; null for `permanently-deleted` (see graceMinutes).' })
  days!: number | null;

  @ApiProperty({ type: Number, nullable: true, description: '`permanently-deleted` only: minutes after the deletion.' })
  graceMinutes!: number | null;

  @ApiProperty({ enum: RETENTION_ACTIONS })
  action!: RetentionAction;

  @ApiProperty({
    type: String,
    format: 'date-time',
    description: 'Conversations whose last activity (for `permanently-deleted`: whose deletion) is older are due.',
  })
  cutoff!: string;

  @ApiProperty({ example: 12, description: 'Conversations purged (or anonymised) by this pass.' })
  conversations!: number;

  @ApiProperty({ example: 1, description: 'Conversations due but left alone because a legal hold covers them or their owner.' })
  skippedByHold!: number;

  @ApiProperty({ ...COUNTS_SCHEMA, description: 'Records removed (or anonymised), per collection or file store.' })
  counts!: Record<string, number>;

  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'Why this pass does nothing although conversations may be due (an `anonymise` policy while CHAT_ANONYMIZATION_ENABLED is off).',
  })
  suspended!: string | null;
}

export class RetentionPreviewPassDto extends RetentionPassDto {
  @ApiProperty({ type: [String], description: 'Up to `limit` ids of the conversations this pass would purge (or anonymise).' })
  sampleConversationIds!: string[];

  @ApiProperty({
    description: `The preview reached its cap (${MAX_PREVIEW_CONVERSATIONS_TEXT} conversations examined) before the end of this pass: its counts are what it found so far.`,
  })
  truncated!: boolean;
}

export class RetentionTotalsDto {
  @ApiProperty({ example: 12 })
  conversations!: number;

  @ApiProperty({ example: 1 })
  skippedByHold!: number;

  @ApiProperty(COUNTS_SCHEMA)
  counts!: Record<string, number>;
}

export class RetentionPreviewDto {
  @ApiProperty({ type: String, format: 'date-time', description: 'The moment the cutoffs were computed from.' })
  at!: string;

  @ApiProperty({
    description:
      'ENABLE_DATA_RETENTION: false means a run now would carry out only the `permanently-deleted` pass (the other passes show ' +
      'what it would do if on).',
  })
  enabled!: boolean;

  @ApiProperty({
    description: `Whether the preview stopped at its cap of ${MAX_PREVIEW_CONVERSATIONS_TEXT} conversations examined (across all passes) with more left to examine: the counts are then lower bounds, and the passes marked \`truncated\` were not examined to the end.`,
  })
  truncated!: boolean;

  @ApiProperty({ type: [RetentionPreviewPassDto], description: 'In the order a run applies them.' })
  policies!: RetentionPreviewPassDto[];

  @ApiProperty({ type: RetentionTotalsDto })
  totals!: RetentionTotalsDto;
}

export class RetentionRunDto {
  @ApiProperty({ example: '665f1c2e9b1d8a0012345678', description: 'The run record in chat_job_runs.' })
  id!: string;

  @ApiProperty({ example: 'retention' })
  job!: string;

  @ApiProperty({ description: 'The instance that ran it.' })
  instance!: string;

  @ApiProperty({ enum: ['manual'] })
  trigger!: 'manual';

  @ApiProperty({ enum: ['succeeded', 'failed'], description: 'A failed run purged what it reached; the next run picks up the rest.' })
  status!: 'succeeded' | 'failed';

  @ApiProperty({ type: String, format: 'date-time' })
  startedAt!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  finishedAt!: string | null;

  @ApiProperty({
    ...COUNTS_SCHEMA,
    example: { disabled: 0, conversations: 12, skippedByHold: 1, 'purged:chat_messages': 340 },
    description:
      '`disabled` (1 when ENABLE_DATA_RETENTION is off: the run purged only conversations deleted with permanent=true), ' +
      '`conversations` purged or anonymised, `skippedByHold`, ' +
      'and per collection or file store `purged:<store>` and `anonymised:<store>`. The full receipt, per policy, is in the audit log (`retention.run`).',
  })
  counts!: Record<string, number>;

  @ApiProperty({ type: String, nullable: true })
  error!: string | null;
}
