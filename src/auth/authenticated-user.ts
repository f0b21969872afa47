/** The caller, as proven by a verified bearer token. */
export interface AuthenticatedUser {
  id: string;
  roles: string[];
  name?: string;
  email?: string;
}

export const ADMIN_ROLE = 'admin';

/** What a role name looks like, in tokens and in requests. */
export const ROLE_NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

/** WMS roles are every role except the platform's own (`admin`). */
export function wmsRoles(user: AuthenticatedUser): string[] {
  return user.roles.filter((role) => role !== ADMIN_ROLE);
}
