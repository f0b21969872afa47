import { Injectable, UnauthorizedException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { KeyObject, createPublicKey, createSecretKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { AppConfig, JwtVerificationConfig } from '../common/config/app-config.js';
import { AuthenticatedUser, ROLE_NAME_PATTERN } from './authenticated-user.js';

export interface WmsTokenClaims {
  sub?: unknown;
  roles?: unknown;
  name?: unknown;
  email?: unknown;
  exp?: unknown;
  iat?: unknown;
}

/**
 * What a user id (the token subject) looks like; routes that take a user id accept the same. The
 * word characters are written out (`\w` in JavaScript): in the OpenAPI document the pattern must
 * mean the same in every regex dialect, and `\w` is Unicode in some.
 */
export const USER_ID_PATTERN = /^[A-Za-z0-9_.@:|-]{1,128}$/;

/**
 * Turns verified claims into the caller; tokens whose claims are malformed are refused.
 * Shared by the HTTP strategy and the realtime handshake, so both accept exactly the same tokens.
 */
export function claimsToUser(claims: WmsTokenClaims): AuthenticatedUser {
  const { sub, roles, name, email } = claims;
  if (typeof sub !== 'string' || !USER_ID_PATTERN.test(sub)) {
    throw new UnauthorizedException('Token subject (sub) is missing or malformed');
  }
  if (roles !== undefined && (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string' && ROLE_NAME_PATTERN.test(role)))) {
    throw new UnauthorizedException('Token roles claim must be an array of role names');
  }
  return {
    id: sub,
    roles: [...new Set((roles as string[] | undefined) ?? [])],
    name: typeof name === 'string' ? name : undefined,
    email: typeof email === 'string' ? email : undefined,
  };
}

/**
 * Tokens must expire, and live at most `maxTtlSeconds` (JWT_MAX_TTL): from `iat` to `exp`, and
 * from now to `exp` (so a token without `iat`, or with an `iat` in the future, gains nothing).
 * Shared by the HTTP strategy and the realtime handshake, like claimsToUser.
 */
export function assertTokenLifetime(claims: WmsTokenClaims, maxTtlSeconds: number, nowSeconds = Date.now() / 1000): void {
  const { exp, iat } = claims;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) {
    throw new UnauthorizedException('Bearer token has no expiry (exp): only tokens that expire are accepted');
  }
  const lifetime = Math.max(exp - nowSeconds, typeof iat === 'number' && Number.isFinite(iat) ? exp - iat : 0);
  if (lifetime > maxTtlSeconds) {
    throw new UnauthorizedException(
      `Bearer token lives too long: this service accepts tokens valid for at most ${describeSeconds(maxTtlSeconds)} (exp - iat)`,
    );
  }
}

function describeSeconds(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/**
 * A KeyObject built once: given a string, jsonwebtoken first tries (and fails) to parse it as a
 * public key on every call, which costs more than the whole rest of verification.
 */
export function verificationKey(auth: JwtVerificationConfig): KeyObject {
  return auth.algorithm === 'HS256' ? createSecretKey(Buffer.from(auth.secret, 'utf8')) : createPublicKey(auth.publicKey);
}

/** Verifies a bearer token outside the HTTP pipeline (the realtime handshake). */
@Injectable()
export class TokenVerifier {
  private readonly auth: JwtVerificationConfig;
  private readonly key: KeyObject;

  constructor(config: ConfigService<AppConfig, true>) {
    this.auth = config.get('auth', { infer: true });
    this.key = verificationKey(this.auth);
  }

  /** The caller and when the token expires; throws an Error whose message says why the token is refused. */
  verify(token: string): { user: AuthenticatedUser; expiresAt: Date | null } {
    let claims: WmsTokenClaims;
    try {
      claims = jwt.verify(token, this.key, {
        algorithms: [this.auth.algorithm],
        issuer: this.auth.issuer,
        audience: this.auth.audience,
      });
    } catch (error) {
      const name = (error as Error).name;
      throw new Error(
        name === 'TokenExpiredError'
          ? 'Bearer token has expired'
          : name === 'NotBeforeError'
            ? 'Bearer token is not valid yet'
            : 'Bearer token is invalid',
      );
    }
    try {
      const user = claimsToUser(claims);
      assertTokenLifetime(claims, this.auth.maxTtlSeconds);
      return { user, expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null };
    } catch (error) {
      throw new Error((error as Error).message);
    }
  }
}
