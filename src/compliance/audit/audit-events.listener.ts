import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { OnEvent } from '@nestjs/event-emitter';
import type { AppConfig } from '../../common/config/app-config.js';
import { DomainEvent } from '../../common/events/domain-events.js';
import type { AgentChangedPayload, AuthenticationFailedPayload } from '../../common/events/domain-events.js';
import { AuditLog } from './audit-log.service.js';
import { AuthFailureBursts, networkOf } from './auth-failure-bursts.js';

/**
 * What other modules announce and the audit log records: agent changes, and bursts of failed
 * authentication over HTTP or the realtime handshake (CHAT_AUTH_FAILURE_BURST failures from one
 * address within a minute, counted on this instance; one entry per address per minute).
 *
 * A client address is personal data, so an entry keeps only its keyed hash (the same address
 * gives the same hash, so repeated bursts can be told apart from a spread, and an admin who has
 * an address from elsewhere can check it) and its network (/24 for IPv4, /48 for IPv6): enough
 * to see where an attack comes from and to block it, no longer pointing at one household.
 */
@Injectable()
export class AuditEventsListener {
  private readonly logger = new Logger('AuditLog');
  private readonly bursts: AuthFailureBursts;

  constructor(
    private readonly audit: AuditLog,
    config: ConfigService<AppConfig, true>,
  ) {
    this.bursts = new AuthFailureBursts(config.get('compliance', { infer: true }).authFailureBurst);
  }

  /**
   * The admin's request waits for this (publishAndWait), and fails when the entry cannot be
   * written (errors are not suppressed): an agent change is never answered 2xx unaudited.
   */
  @OnEvent(DomainEvent.AgentChanged, { suppressErrors: false })
  async onAgentChanged(event: AgentChangedPayload): Promise<void> {
    try {
      await this.audit.record({
        action: 'agent.changed',
        actor: { userId: event.actorId, roles: event.actorRoles },
        target: { type: 'agent', id: event.agentKey },
        details: { change: event.action, version: event.version, ...(event.fields ? { fields: event.fields } : {}) },
      });
    } catch (error) {
      this.logger.error({ err: error, agentKey: event.agentKey }, 'Could not record an agent change in the audit log');
      throw error;
    }
  }

  @OnEvent(DomainEvent.AuthenticationFailed)
  async onAuthenticationFailed(event: AuthenticationFailedPayload): Promise<void> {
    const burst = this.bursts.add(event.ip, event.reason, new Date());
    if (this.bursts.untracked === 1) {
      this.logger.warn('Failed authentications from too many addresses this minute: the rest of the minute is not counted per address');
    }
    if (!burst) return;
    try {
      await this.audit.record({
        action: 'auth.failure-burst',
        actor: { system: 'auth' },
        target: null,
        details: {
          ipHash: await this.audit.ipHash(burst.ip),
          network: networkOf(burst.ip),
          failures: burst.failures,
          windowStart: burst.windowStart.toISOString(),
          windowSeconds: 60,
          reasons: burst.reasons,
        },
      });
    } catch (error) {
      this.logger.error({ err: error }, 'Could not record a burst of failed authentication in the audit log');
    }
  }
}
