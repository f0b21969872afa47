import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { Request } from 'express';
import { AppException } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { DomainEventBus } from '../common/events/domain-event-bus.js';
import { DomainEvent } from '../common/events/domain-events.js';
import { IS_PUBLIC_ROUTE } from './public.decorator.js';
import { HttpStatus } from '@nestjs/common';

/**
 * Global guard: every route needs a valid bearer token unless marked @Public(). Each refusal is
 * announced (address, reason, method and path; never the token), so bursts can be audited.
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    private readonly events: DomainEventBus,
  ) {
    super();
  }

  override canActivate(context: ExecutionContext) {
    // Sockets are authenticated once, in the realtime handshake.
    if (context.getType() !== 'http') return true;
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_ROUTE, [context.getHandler(), context.getClass()]);
    return isPublic ? true : super.canActivate(context);
  }

  override handleRequest<TUser>(error: unknown, user: TUser | false, info: unknown, context: ExecutionContext): TUser {
    if (user && !error) {
      return user;
    }
    const reason = explain(error ?? info);
    const request = context.switchToHttp().getRequest<Request>();
    this.events.publish(DomainEvent.AuthenticationFailed, {
      ip: request.ip ?? request.socket?.remoteAddress ?? 'unknown',
      reason,
      method: request.method,
      // The path only: a query string could carry anything, a token included.
      path: request.originalUrl.split('?')[0] ?? '',
    });
    throw new AppException(HttpStatus.UNAUTHORIZED, ErrorCode.UNAUTHORIZED, reason);
  }
}

function explain(reason: unknown): string {
  const name = (reason as { name?: string } | undefined)?.name;
  const message = (reason as { message?: string } | undefined)?.message ?? '';
  if (name === 'TokenExpiredError') return 'Bearer token has expired';
  if (name === 'NotBeforeError') return 'Bearer token is not valid yet';
  if (name === 'JsonWebTokenError') {
    if (/audience|issuer/.test(message)) return `Bearer token was not issued for this service (${message})`;
    return 'Bearer token is invalid';
  }
  if (message === 'No auth token') return 'Missing bearer token: send Authorization: Bearer <token>';
  if (name === 'UnauthorizedException' && message) return message;
  return 'Bearer token is invalid';
}
