import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { AppException } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { IS_PUBLIC_ROUTE } from './public.decorator.js';
import { HttpStatus } from '@nestjs/common';

/** Global guard: every route needs a valid bearer token unless marked @Public(). */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(private readonly reflector: Reflector) {
    super();
  }

  override canActivate(context: ExecutionContext) {
    // Sockets are authenticated once, in the realtime handshake.
    if (context.getType() !== 'http') return true;
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_ROUTE, [context.getHandler(), context.getClass()]);
    return isPublic ? true : super.canActivate(context);
  }

  override handleRequest<TUser>(error: unknown, user: TUser | false, info: unknown): TUser {
    if (user && !error) {
      return user;
    }
    throw new AppException(HttpStatus.UNAUTHORIZED, ErrorCode.UNAUTHORIZED, explain(error ?? info));
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
