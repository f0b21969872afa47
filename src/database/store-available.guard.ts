import { CanActivate, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { StoreStatus } from './store-status.js';

const WITHOUT_STORE = 'wms:without-store';

/** Routes that answer without the store (health probes report its state themselves). */
export const WithoutStore = () => SetMetadata(WITHOUT_STORE, true);

/**
 * Answers 503 STORE_UNAVAILABLE (with Retry-After) at once while the store is known to be down,
 * instead of letting the request wait for a server selection to time out.
 */
@Injectable()
export class StoreAvailableGuard implements CanActivate {
  constructor(
    private readonly status: StoreStatus,
    private readonly reflector: Reflector,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    if (this.reflector.getAllAndOverride<boolean>(WITHOUT_STORE, [context.getHandler(), context.getClass()])) return true;
    this.status.assertAvailable();
    return true;
  }
}
