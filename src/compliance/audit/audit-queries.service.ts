import { HttpStatus, Injectable } from '@nestjs/common';
import type { AuthenticatedUser } from '../../auth/authenticated-user.js';
import { AppException, ValidationFailedException } from '../../common/errors/app-exceptions.js';
import { ErrorCode } from '../../common/errors/error-codes.js';
import { AuditLog } from './audit-log.service.js';
import { AuditEntryRecord, AuditLogRepository } from './audit-log.repository.js';
import { AUDIT_PAGE_DEFAULT_LIMIT, AuditEntryDto, AuditListQuery, AuditPageDto } from './dto/audit.dto.js';

const CURSOR_SCOPE = 'audit';

/** The admins' view of the audit log. */
@Injectable()
export class AuditQueries {
  constructor(
    private readonly entries: AuditLogRepository,
    private readonly audit: AuditLog,
  ) {}

  /**
   * Entries newest first, filtered. Reading the log shows what was done to whose data, so a
   * listing is itself recorded (`admin.read`, once per listing: on its first page). The people
   * searched for appear in it by keyed hash only (an `admin.read` subject never keeps the plain
   * id, and the filter is stored as hashes): searching for an erased user writes no id back.
   */
  async list(admin: AuthenticatedUser, query: AuditListQuery): Promise<AuditPageDto> {
    const from = query.from === undefined ? undefined : new Date(query.from);
    const to = query.to === undefined ? undefined : new Date(query.to);
    if (from && to && from > to) throw ValidationFailedException.forField('from', 'from must not be after to');
    const beforeSeq = query.cursor === undefined ? undefined : decodeSeqCursor(query.cursor);
    const limit = query.limit ?? AUDIT_PAGE_DEFAULT_LIMIT;
    const [actorHash, subjectHash] = await Promise.all([
      query.actorId === undefined ? undefined : this.audit.userIdHash(query.actorId),
      query.subjectId === undefined ? undefined : this.audit.userIdHash(query.subjectId),
    ]);
    const rows = await this.entries.list({ action: query.action, actorHash, subjectHash, from, to, beforeSeq, limit });
    if (beforeSeq === undefined) {
      await this.audit.record({
        action: 'admin.read',
        actor: { userId: admin.id, roles: admin.roles },
        subjectUserId: query.subjectId ?? null,
        target: { type: 'audit-log', id: 'entries' },
        details: {
          route: 'GET /api/v1/chat/admin/audit',
          filter: {
            ...(query.action ? { action: query.action } : {}),
            ...(actorHash ? { actorIdHash: actorHash } : {}),
            ...(subjectHash ? { subjectIdHash: subjectHash } : {}),
            ...(query.from ? { from: query.from } : {}),
            ...(query.to ? { to: query.to } : {}),
            limit,
          },
        },
      });
    }
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map(toAuditEntryDto), nextCursor: rows.length > limit && last ? encodeSeqCursor(last.seq) : null };
  }
}

export function toAuditEntryDto(entry: AuditEntryRecord): AuditEntryDto {
  const { actor, subject } = entry;
  return {
    seq: entry.seq,
    at: entry.at.toISOString(),
    action: entry.action,
    actor: {
      ...(actor.userId !== undefined ? { userId: actor.userId } : {}),
      ...(actor.userIdHash !== undefined ? { userIdHash: actor.userIdHash } : {}),
      ...(actor.roles !== undefined ? { roles: [...actor.roles] } : {}),
      ...(actor.system !== undefined ? { system: actor.system } : {}),
    },
    subject: subject ? { ...(subject.userId !== undefined ? { userId: subject.userId } : {}), userIdHash: subject.userIdHash } : null,
    target: entry.target ? { type: entry.target.type, id: entry.target.id } : null,
    details: entry.details ?? {},
    prevHash: entry.prevHash ?? null,
    hash: entry.hash,
  };
}

function encodeSeqCursor(seq: number): string {
  return Buffer.from(JSON.stringify({ s: CURSOR_SCOPE, q: seq }), 'utf8').toString('base64url');
}

/** A client-supplied cursor: the seq the next page starts below; anything else is a 400. */
function decodeSeqCursor(cursor: string): number {
  const invalid = () =>
    new AppException(HttpStatus.BAD_REQUEST, ErrorCode.INVALID_CURSOR, 'cursor is not a cursor issued by this listing', [
      { field: 'cursor', messages: ['cursor must be a nextCursor value returned by this listing'] },
    ]);
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const { s, q } = (payload ?? {}) as { s?: unknown; q?: unknown };
  if (s !== CURSOR_SCOPE || typeof q !== 'number' || !Number.isSafeInteger(q) || q < 1) throw invalid();
  return q;
}
