import { Injectable, UnauthorizedException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { PassportStrategy } from '@nestjs/passport';
import { KeyObject, createPublicKey, createSecretKey } from 'node:crypto';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { AppConfig, JwtVerificationConfig } from '../common/config/app-config.js';
import { AuthenticatedUser, ROLE_NAME_PATTERN } from './authenticated-user.js';

interface WmsTokenClaims {
  sub?: unknown;
  roles?: unknown;
  name?: unknown;
  email?: unknown;
}

const USER_ID_PATTERN = /^[\w.@:|-]{1,128}$/;

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(config: ConfigService<AppConfig, true>) {
    const auth = config.get('auth', { infer: true });
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      // A KeyObject built once: given a string, jsonwebtoken first tries (and fails) to parse it as a
      // public key on every request, which costs more than the whole rest of verification.
      secretOrKey: verificationKey(auth) as unknown as string,
      // One algorithm, never a list: `none` and HS/RS confusion are refused by construction.
      algorithms: [auth.algorithm],
      issuer: auth.issuer,
      audience: auth.audience,
      ignoreExpiration: false,
    });
  }

  validate(claims: WmsTokenClaims): AuthenticatedUser {
    const { sub, roles, name, email } = claims;
    if (typeof sub !== 'string' || !USER_ID_PATTERN.test(sub)) {
      throw new UnauthorizedException('Token subject (sub) is missing or malformed');
    }
    if (
      roles !== undefined &&
      (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string' && ROLE_NAME_PATTERN.test(role)))
    ) {
      throw new UnauthorizedException('Token roles claim must be an array of role names');
    }
    return {
      id: sub,
      roles: [...new Set((roles as string[] | undefined) ?? [])],
      name: typeof name === 'string' ? name : undefined,
      email: typeof email === 'string' ? email : undefined,
    };
  }
}

function verificationKey(auth: JwtVerificationConfig): KeyObject {
  return auth.algorithm === 'HS256' ? createSecretKey(Buffer.from(auth.secret, 'utf8')) : createPublicKey(auth.publicKey);
}
