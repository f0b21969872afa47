import { Injectable } from '@nestjs/common';

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
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Who did it: a signed-in user (admin or the data subject) or a job of the service itself. */
export type AuditActor = { userId: string; roles: string[] } | { system: string };

export interface AuditEntryInput {
  action: AuditAction;
  actor: AuditActor;
  /** Whose data it concerns, when it concerns one person. */
  subjectUserId?: string | null;
  /** What it acted on (`{ type: 'conversation', id }`, `{ type: 'data-export', id }`). */
  target?: { type: string; id: string } | null;
  /** Counts, reasons, ids of records: never personal data (names, emails, message text). */
  details?: Record<string, unknown>;
}

/** The tamper-evident audit log (chat_audit_log). */
@Injectable()
export class AuditLog {
  /** Appends an entry to the chain; resolves once it is durably stored. */
  async record(_entry: AuditEntryInput): Promise<void> {
    // Filled in with the chained collection.
  }
}
