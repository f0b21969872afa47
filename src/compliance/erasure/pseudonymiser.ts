import { createHmac, randomBytes } from 'node:crypto';
import type { AuthenticatedUser } from '../../auth/authenticated-user.js';
import type { Pseudonymisation } from '../../common/user-data/user-data.js';
import { createTextMasker } from './pii-masker.js';

export const PSEUDONYM_PREFIX = 'anon_';
/** 24 hex digits (96 bits) of the keyed hash: no two users of one deployment meet by chance. */
const PSEUDONYM_HEX_DIGITS = 24;
export const PSEUDONYM_PATTERN = /^anon_[0-9a-f]{24}$/;

/**
 * What replaces a user when they are anonymised: a pseudonym derived from their id with a key
 * generated for this one operation and never stored (so nobody, us included, can compute it
 * again from the id or reverse it), and a masker for the personal data in their texts. `names`
 * are the person's own names and e-mail addresses (the service does not store them: they come
 * from the person's token claims, or from the admin who asks). Used by erasure (admin and self
 * anonymisation) and by retention policies that anonymise.
 */
export function createPseudonymisation(userId: string, names: readonly string[] = []): Pseudonymisation {
  return pseudonymisationAs(userId, createPseudonym(userId), names);
}

/** `anon_` and the first 24 hex digits of HMAC-SHA256(a random 32-byte key, used once and dropped, userId). */
export function createPseudonym(userId: string): string {
  const key = randomBytes(32);
  const digest = createHmac('sha256', key).update(userId, 'utf8').digest('hex');
  key.fill(0);
  return PSEUDONYM_PREFIX + digest.slice(0, PSEUDONYM_HEX_DIGITS);
}

/** The same pseudonymisation again (resuming one interrupted mid-way, whose pseudonym was kept while it ran). */
export function pseudonymisationAs(userId: string, pseudonym: string, names: readonly string[]): Pseudonymisation {
  return { userId, pseudonym, maskText: createTextMasker({ names }) };
}

/** The names of the signed-in person that their token carries (`name`, `email`). */
export function namesFromClaims(user: AuthenticatedUser): string[] {
  return [user.name, user.email].filter((name): name is string => typeof name === 'string' && name.trim().length > 0);
}
