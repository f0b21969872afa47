import { Injectable, OnModuleInit } from '@nestjs/common';
import { UserDataRegistry } from '../../common/user-data/user-data.registry.js';
import type { DataCounts, ExportPart, Pseudonymisation, UserDataHolding, UserDataProvider } from '../../common/user-data/user-data.js';
import { AuditLog } from '../audit/audit-log.service.js';
import { RetentionPoliciesRepository } from './retention-policies.repository.js';
import { RETENTION_POLICIES_COLLECTION } from './schemas/retention-policy.schema.js';

const CSV_COLUMNS = ['scope', 'key', 'days', 'action', 'updatedAt'] as const;

/**
 * Retention overrides (chat_retention_policies) name the admin who set each one last. The
 * overrides themselves are the service's settings, not the admin's data: erasing or
 * pseudonymising the admin replaces their id by the audit log's keyed hash of it, so the override
 * still matches the `retention-policy.changed` entries about it. Never by the pseudonym: those
 * entries lead to the override, and a pseudonym there would link the admin to their anonymised data.
 */
@Injectable()
export class RetentionPoliciesUserDataProvider implements UserDataProvider, OnModuleInit {
  readonly name = 'retention-policies';
  readonly holdings: readonly UserDataHolding[] = [
    {
      store: RETENTION_POLICIES_COLLECTION,
      userFields: ['updatedBy.userId'],
      description: 'Retention overrides per role or agent, with the admin who set each one last.',
    },
  ];

  constructor(
    private readonly registry: UserDataRegistry,
    private readonly policies: RetentionPoliciesRepository,
    private readonly audit: AuditLog,
  ) {}

  onModuleInit(): void {
    this.registry.registerUserData(this);
  }

  async inventory(userId: string): Promise<DataCounts> {
    return { [RETENTION_POLICIES_COLLECTION]: await this.policies.countEditedBy(userId) };
  }

  /** Only for admins who set an override: everyone else's archive does without an always-empty part. */
  async *export(userId: string): AsyncGenerator<ExportPart> {
    if ((await this.policies.countEditedBy(userId)) === 0) return;
    yield {
      kind: 'records',
      name: 'retention-policies-set',
      description: 'Retention overrides you set last as an admin (days and action per role or agent).',
      records: this.records(userId),
      csvColumns: CSV_COLUMNS,
    };
  }

  async erase(userId: string): Promise<DataCounts> {
    return { [RETENTION_POLICIES_COLLECTION]: await this.policies.replaceEditor(userId, await this.audit.userIdHash(userId)) };
  }

  pseudonymise(request: Pseudonymisation): Promise<DataCounts> {
    return this.erase(request.userId);
  }

  private async *records(userId: string): AsyncGenerator<Record<string, unknown>> {
    for await (const policy of this.policies.streamEditedBy(userId)) {
      yield { scope: policy.scope, key: policy.key, days: policy.days, action: policy.action, updatedAt: policy.updatedAt.toISOString() };
    }
  }
}
