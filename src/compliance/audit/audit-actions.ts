/** What the audit log records; every entry names one. */
export const AUDIT_ACTIONS = [
  'admin.read',
  'data-export.created',
  'data-export.downloaded',
  'user.erased',
  'user.anonymised',
  'retention.run',
  'retention-policy.changed',
  'legal-hold.placed',
  'legal-hold.released',
  'agent.changed',
  'auth.failure-burst',
  'audit.pruned',
  'legacy-import.started',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * Actions whose entries keep only the keyed hash of the subject's id, never the plain id (nor the
 * actor's, when the actor is the subject): those about a user who is gone or no longer themselves,
 * and reads. A read names whoever was looked up, and looking up an erased user is how a DPO checks
 * the erasure (`GET /chat/admin/audit?subjectId=`): a plain id there would bring the erased id
 * back. The hash finds the entry all the same.
 */
export const ACTIONS_WITHOUT_PLAIN_SUBJECT: ReadonlySet<AuditAction> = new Set<AuditAction>([
  'user.erased',
  'user.anonymised',
  'admin.read',
]);

/** Who did it: a signed-in user (admin or the data subject) or a job of the service itself. */
export type AuditActor = { userId: string; roles: string[] } | { system: string };

export interface AuditEntryInput {
  action: AuditAction;
  actor: AuditActor;
  /**
   * Whose data it concerns, when it concerns one person. Stored as a keyed hash plus the plain id
   * (removed when the user is erased); the actions of ACTIONS_WITHOUT_PLAIN_SUBJECT keep the hash only.
   */
  subjectUserId?: string | null;
  /** What it acted on (`{ type: 'conversation', id }`, `{ type: 'data-export', id }`). */
  target?: { type: string; id: string } | null;
  /**
   * Counts, reasons, ids of records: NEVER personal data (user ids, names, emails, message text,
   * file names, IP addresses). Erasure cannot reach inside details, so anything personal put here
   * would outlive the user's erasure; name the person through `subjectUserId` instead. Stored as
   * plain JSON (dates become ISO strings).
   */
  details?: Record<string, unknown>;
}
