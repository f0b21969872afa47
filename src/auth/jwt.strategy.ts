import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { AppConfig } from '../common/config/app-config.js';
import { AuthenticatedUser } from './authenticated-user.js';
import { WmsTokenClaims, assertTokenLifetime, claimsToUser, verificationKey } from './token-verifier.js';

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  private readonly maxTtlSeconds: number;

  constructor(config: ConfigService<AppConfig, true>) {
    const auth = config.get('auth', { infer: true });
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKey: verificationKey(auth) as unknown as string,
      // One algorithm, never a list: `none` and HS/RS confusion are refused by construction.
      algorithms: [auth.algorithm],
      issuer: auth.issuer,
      audience: auth.audience,
      ignoreExpiration: false,
    });
    this.maxTtlSeconds = auth.maxTtlSeconds;
  }

  validate(claims: WmsTokenClaims): AuthenticatedUser {
    const user = claimsToUser(claims);
    assertTokenLifetime(claims, this.maxTtlSeconds);
    return user;
  }
}
