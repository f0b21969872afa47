import { SetMetadata } from '@nestjs/common';

export const REQUIRED_ROLES = 'auth:requiredRoles';

/** The caller needs one of these roles (checked after the bearer token, by RolesGuard). */
export const Roles = (...roles: string[]): MethodDecorator & ClassDecorator => SetMetadata(REQUIRED_ROLES, roles);
