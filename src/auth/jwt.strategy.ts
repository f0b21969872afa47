import { Injectable, UnauthorizedException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { AppConfig } from '../common/config/app-config.js';
import { AuthenticatedUser } from './authenticated-user.js';

interface WmsTokenClaims {
  sub?: unknown;
  roles?: unknown;
  name?: unknown;
  email?: unknown;
}

const USER_ID_PATTERN = /^[\w.@:|-]{1,128}$/;
const ROLE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(config: ConfigService<AppConfig, true>) {
    const auth = config.get('auth', { infer: true });
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKey: auth.algorithm === 'HS256' ? auth.secret : auth.publicKey,
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
    if (roles !== undefined && (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string' && ROLE_PATTERN.test(role)))) {
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
