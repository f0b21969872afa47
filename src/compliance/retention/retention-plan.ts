import type { PurgeGuard, RetentionQuery } from '../../conversations/conversations.service.js';
import { PSEUDONYM_PATTERN } from '../erasure/pseudonymiser.js';
import type { RetentionPassKind } from './dto/retention.dto.js';
import type { RetentionPolicies } from './retention-policies.service.js';
import type { RetentionAction } from './schemas/retention-policy.schema.js';

const DAY_MS = 24 * 60 * 60_000;

/** One step of a retention run: which conversations one policy finds due, and what happens to them. */
export interface RetentionPass {
  policy: RetentionPassKind;
  /** The role or agent of an override. */
  key: string | null;
  days: number | null;
  graceMinutes: number | null;
  action: RetentionAction;
  /** Last activity (or deletion, for `permanently-deleted`) before this is due. */
  cutoff: Date;
  /**
   * The conversations the pass looks at, without keyset position and batch size. An `anonymise`
   * pass leaves out owners that are pseudonyms already: a pseudonym is never anonymised again, and
   * the pass does not read them again on every run.
   */
  query: Omit<RetentionQuery, 'afterId' | 'limit'>;
  /** What must still hold of a selected conversation when a `delete` pass marks it for purge. */
  purgeGuard: PurgeGuard;
  /**
   * Policy passes leave conversations deleted with permanent=true to the `permanently-deleted`
   * pass: the user asked for them to go, so they are purged (never anonymised), after the grace.
   */
  leavesDeleted: boolean;
  /** Why the pass does nothing although conversations may be due; null when it acts. */
  suspended: string | null;
}

export const ANONYMISATION_SUSPENDED =
  'CHAT_ANONYMIZATION_ENABLED is off: conversations under this anonymise policy are kept until it is on again or the policy changes';

/**
 * The passes of a retention run at `now`, in the order they run: each agent override, each role
 * override, the default, then the purge of conversations deleted for good. The queries split the
 * conversations so that exactly one policy applies to each (precedence: agent over role over
 * default): a role override leaves out the agents that have their own override, and the default
 * leaves out both.
 */
export function planRetention(
  policies: RetentionPolicies,
  options: { now: Date; graceMinutes: number; anonymizationEnabled: boolean },
): RetentionPass[] {
  const agentOverrides = policies.overrides.filter((override) => override.scope === 'agent');
  const roleOverrides = policies.overrides.filter((override) => override.scope === 'role');
  const agentKeys = agentOverrides.map((override) => override.key);
  const roles = roleOverrides.map((override) => override.key);
  const before = (days: number) => new Date(options.now.getTime() - days * DAY_MS);
  const policyPass = (
    policy: RetentionPassKind,
    key: string | null,
    days: number,
    action: RetentionAction,
    query: Omit<RetentionQuery, 'afterId' | 'limit' | 'lastActivityBefore'>,
  ): RetentionPass => ({
    policy,
    key,
    days,
    graceMinutes: null,
    action,
    cutoff: before(days),
    query: { ...query, lastActivityBefore: before(days), ...(action === 'anonymise' ? { excludeOwnersMatching: PSEUDONYM_PATTERN } : {}) },
    purgeGuard: { lastActivityBefore: before(days) },
    leavesDeleted: true,
    suspended: action === 'anonymise' && !options.anonymizationEnabled ? ANONYMISATION_SUSPENDED : null,
  });
  const deletedBefore = new Date(options.now.getTime() - options.graceMinutes * 60_000);
  return [
    ...agentOverrides.map((override) =>
      policyPass('agent', override.key, override.days, override.action, { agentKeys: { in: [override.key] } }),
    ),
    ...roleOverrides.map((override) =>
      policyPass('role', override.key, override.days, override.action, { roles: { in: [override.key] }, agentKeys: { nin: agentKeys } }),
    ),
    policyPass('default', null, policies.defaultDays, 'delete', { roles: { nin: roles }, agentKeys: { nin: agentKeys } }),
    {
      policy: 'permanently-deleted',
      key: null,
      days: null,
      graceMinutes: options.graceMinutes,
      action: 'delete',
      cutoff: deletedBefore,
      query: { deletedBefore },
      purgeGuard: { deletedBefore },
      leavesDeleted: false,
      suspended: null,
    },
  ];
}
