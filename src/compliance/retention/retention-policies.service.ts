import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AuthenticatedUser } from '../../auth/authenticated-user.js';
import type { AppConfig } from '../../common/config/app-config.js';
import { ConflictStateException, ResourceNotFoundException } from '../../common/errors/app-exceptions.js';
import { ErrorCode } from '../../common/errors/error-codes.js';
import { AuditLog } from '../audit/audit-log.service.js';
import { PRECEDENCE, PutRetentionPolicyDto, RetentionPoliciesDto, RetentionPolicyDto } from './dto/retention.dto.js';
import { RetentionPoliciesRepository, RetentionPolicyRecord } from './retention-policies.repository.js';
import type { RetentionAction, RetentionScope } from './schemas/retention-policy.schema.js';

/** The policies in force: the default and the admins' overrides. */
export interface RetentionPolicies {
  defaultDays: number;
  overrides: { scope: RetentionScope; key: string; days: number; action: RetentionAction }[];
}

/** The default retention (CHAT_RETENTION_DAYS, delete) and the admins' overrides per role and per agent. */
@Injectable()
export class RetentionPoliciesService {
  private readonly defaultDays: number;
  private readonly settings: AppConfig['compliance'];

  constructor(
    private readonly policies: RetentionPoliciesRepository,
    private readonly audit: AuditLog,
    config: ConfigService<AppConfig, true>,
  ) {
    this.defaultDays = config.get('chat', { infer: true }).retentionDays;
    this.settings = config.get('compliance', { infer: true });
  }

  async current(): Promise<RetentionPolicies> {
    const overrides = (await this.policies.all()).map(({ scope, key, days, action }) => ({ scope, key, days, action }));
    return { defaultDays: this.defaultDays, overrides };
  }

  async describe(): Promise<RetentionPoliciesDto> {
    return {
      enabled: this.settings.enableDataRetention,
      anonymizationEnabled: this.settings.anonymizationEnabled,
      cron: this.settings.retentionCron,
      permanentDeleteGraceMinutes: this.settings.permanentDeleteGraceMinutes,
      default: { days: this.defaultDays, action: 'delete' },
      overrides: (await this.policies.all()).map(toRetentionPolicyDto),
      precedence: PRECEDENCE,
    };
  }

  async put(admin: AuthenticatedUser, scope: RetentionScope, key: string, dto: PutRetentionPolicyDto): Promise<RetentionPolicyDto> {
    const action = dto.action ?? 'delete';
    if (action === 'anonymise' && !this.settings.anonymizationEnabled) {
      throw new ConflictStateException(
        ErrorCode.ANONYMIZATION_DISABLED,
        'Anonymisation is off (CHAT_ANONYMIZATION_ENABLED=false): a policy can only delete',
      );
    }
    const editor = { userId: admin.id, roles: [...admin.roles] };
    const { before, after } = await this.policies.put(scope, key, { days: dto.days, action, updatedBy: editor, now: new Date() });
    await this.audit.record({
      action: 'retention-policy.changed',
      actor: editor,
      target: { type: 'retention-policy', id: `${scope}:${key}` },
      details: { scope, key, before: before ? { days: before.days, action: before.action } : null, after: { days: after.days, action } },
    });
    return toRetentionPolicyDto(after);
  }

  async remove(admin: AuthenticatedUser, scope: RetentionScope, key: string): Promise<void> {
    const removed = await this.policies.remove(scope, key);
    if (!removed) throw new ResourceNotFoundException(ErrorCode.RETENTION_POLICY_NOT_FOUND, `No retention override for ${scope} ${key}`);
    await this.audit.record({
      action: 'retention-policy.changed',
      actor: { userId: admin.id, roles: [...admin.roles] },
      target: { type: 'retention-policy', id: `${scope}:${key}` },
      details: { scope, key, before: { days: removed.days, action: removed.action }, after: null },
    });
  }
}

function toRetentionPolicyDto(record: Omit<RetentionPolicyRecord, '_id'>): RetentionPolicyDto {
  return {
    scope: record.scope,
    key: record.key,
    days: record.days,
    action: record.action,
    updatedBy: { userId: record.updatedBy.userId, roles: record.updatedBy.roles ?? [] },
    createdAt: record.createdAt.toISOString(),
    updatedAt: record.updatedAt.toISOString(),
  };
}
