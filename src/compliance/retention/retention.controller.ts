import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ADMIN_ROLE } from '../../auth/authenticated-user.js';
import type { AuthenticatedUser } from '../../auth/authenticated-user.js';
import { CurrentUser } from '../../auth/current-user.decorator.js';
import { Roles } from '../../auth/roles.decorator.js';
import { ConflictStateException } from '../../common/errors/app-exceptions.js';
import { ApiErrorResponses } from '../../common/errors/api-error-responses.decorator.js';
import { ErrorCode } from '../../common/errors/error-codes.js';
import {
  AgentPolicyParams,
  MAX_PREVIEW_CONVERSATIONS,
  PRECEDENCE,
  PutRetentionPolicyDto,
  RetentionPoliciesDto,
  RetentionPolicyDto,
  RetentionPreviewDto,
  RetentionPreviewQuery,
  RetentionRunDto,
  RolePolicyParams,
} from './dto/retention.dto.js';
import { RetentionPoliciesService } from './retention-policies.service.js';
import { RetentionJob } from './retention.job.js';

const DEFAULT_SAMPLE_SIZE = 10;
const PUT_DESCRIPTION =
  `${PRECEDENCE} Creates the override or replaces it. \`anonymise\` is refused with 409 ANONYMIZATION_DISABLED while ` +
  'CHAT_ANONYMIZATION_ENABLED is off. Recorded in the audit log (`retention-policy.changed`).';

@ApiTags('admin')
@ApiBearerAuth()
@ApiErrorResponses(400, 401, 403)
@Roles(ADMIN_ROLE)
@Controller('chat/admin/retention')
export class RetentionController {
  constructor(
    private readonly policies: RetentionPoliciesService,
    private readonly job: RetentionJob,
  ) {}

  @Get('policies')
  @ApiOperation({ summary: 'The retention default and the overrides per role and per agent (admin)', description: PRECEDENCE })
  @ApiOkResponse({ type: RetentionPoliciesDto })
  list(): Promise<RetentionPoliciesDto> {
    return this.policies.describe();
  }

  @Put('policies/role/:key')
  @ApiOperation({ summary: 'Set the retention of conversations started with one role (admin)', description: PUT_DESCRIPTION })
  @ApiOkResponse({ type: RetentionPolicyDto })
  @ApiErrorResponses(409)
  putRole(
    @CurrentUser() admin: AuthenticatedUser,
    @Param() { key }: RolePolicyParams,
    @Body() dto: PutRetentionPolicyDto,
  ): Promise<RetentionPolicyDto> {
    return this.policies.put(admin, 'role', key, dto);
  }

  @Put('policies/agent/:key')
  @ApiOperation({ summary: 'Set the retention of conversations with one agent (admin)', description: PUT_DESCRIPTION })
  @ApiOkResponse({ type: RetentionPolicyDto })
  @ApiErrorResponses(409)
  putAgent(
    @CurrentUser() admin: AuthenticatedUser,
    @Param() { key }: AgentPolicyParams,
    @Body() dto: PutRetentionPolicyDto,
  ): Promise<RetentionPolicyDto> {
    return this.policies.put(admin, 'agent', key, dto);
  }

  @Delete('policies/role/:key')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Remove the override of a role: its conversations follow the default again (admin)' })
  @ApiNoContentResponse()
  @ApiErrorResponses(404)
  async removeRole(@CurrentUser() admin: AuthenticatedUser, @Param() { key }: RolePolicyParams): Promise<void> {
    await this.policies.remove(admin, 'role', key);
  }

  @Delete('policies/agent/:key')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Remove the override of an agent: its conversations follow their role’s policy again (admin)' })
  @ApiNoContentResponse()
  @ApiErrorResponses(404)
  async removeAgent(@CurrentUser() admin: AuthenticatedUser, @Param() { key }: AgentPolicyParams): Promise<void> {
    await this.policies.remove(admin, 'agent', key);
  }

  @Get('preview')
  @ApiOperation({
    summary: 'Dry run: what a retention run now would purge, per policy and per store (admin)',
    description:
      'Changes nothing. Per policy (in the order a run applies them): the cutoff, how many conversations are due, how many a legal ' +
      'hold keeps, what would go per collection and file store, and a sample of conversation ids. Shown whether ' +
      'ENABLE_DATA_RETENTION is on or off (`enabled` says which; when off, a run carries out only the `permanently-deleted` pass). ' +
      'For `anonymise` policies the counts are the records that would be rewritten. It examines at most ' +
      `${MAX_PREVIEW_CONVERSATIONS.toLocaleString('en-US')} conversations across its passes; past that it answers what it found so far ` +
      'with `truncated: true` (and `truncated` on each pass it did not finish).',
  })
  @ApiOkResponse({ type: RetentionPreviewDto })
  preview(@Query() query: RetentionPreviewQuery): Promise<RetentionPreviewDto> {
    return this.job.preview(query.limit ?? DEFAULT_SAMPLE_SIZE);
  }

  @Post('run')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Run retention now (admin)',
    description:
      'Runs the retention job on this instance and answers when it has finished, with its run record (a run of it already under way ' +
      'here is waited for first). `failed` runs purged what they reached; the next run finishes the rest. 409 RETENTION_RUN_SKIPPED ' +
      'when another instance holds the job’s lease (a run is under way there; `details.reason` says until when) or this instance ' +
      'is shutting down. The receipt goes to the audit log (`retention.run`) with you as the actor. With ENABLE_DATA_RETENTION off ' +
      'the run purges only conversations deleted with permanent=true (past the grace) and says so (`counts.disabled: 1`).',
  })
  @ApiOkResponse({ type: RetentionRunDto })
  @ApiErrorResponses(409)
  async run(@CurrentUser() admin: AuthenticatedUser): Promise<RetentionRunDto> {
    const result = await this.job.runNow(admin);
    if (result.status === 'skipped' || result.status === 'running' || result.id === undefined) {
      throw new ConflictStateException(
        ErrorCode.RETENTION_RUN_SKIPPED,
        `The retention run did not start: ${result.reason ?? result.status}`,
        {
          reason: result.reason ?? null,
        },
      );
    }
    return {
      id: result.id,
      job: result.job,
      instance: result.instance,
      trigger: 'manual',
      status: result.status,
      startedAt: result.startedAt.toISOString(),
      finishedAt: result.finishedAt ? result.finishedAt.toISOString() : null,
      counts: result.counts,
      error: result.error,
    };
  }
}
