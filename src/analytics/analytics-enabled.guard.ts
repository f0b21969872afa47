import { CanActivate, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../common/config/app-config.js';
import { ResourceNotFoundException } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';

export const ANALYTICS_DISABLED_MESSAGE = 'Analytics is turned off on this deployment (CHAT_ENABLE_ANALYTICS=false)';

/** With CHAT_ENABLE_ANALYTICS=false every analytics route answers 404 ANALYTICS_DISABLED. */
@Injectable()
export class AnalyticsEnabledGuard implements CanActivate {
  private readonly enabled: boolean;

  constructor(config: ConfigService<AppConfig, true>) {
    this.enabled = config.get('chat', { infer: true }).enableAnalytics;
  }

  canActivate(): boolean {
    if (!this.enabled) throw new ResourceNotFoundException(ErrorCode.ANALYTICS_DISABLED, ANALYTICS_DISABLED_MESSAGE);
    return true;
  }
}
