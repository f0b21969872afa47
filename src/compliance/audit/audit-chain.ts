import { createHmac } from 'node:crypto';

/**
 * The audit log's hashes, shared by the app (appending) and `npm run audit:verify` (checking).
 *
 * Every hash is an HMAC-SHA256 under the audit hash key (CHAT_AUDIT_HASH_KEY, or a key generated
 * once and kept in chat_audit_settings), each kind under its own label so a hash of one kind can
 * never stand for another. With the key kept outside the database, someone who can write to the
 * database but does not have the key cannot recompute the chain after changing an entry.
 */
export type AuditHashKey = Buffer;

/** Who acted, as stored: `userId` is the plain id, removed when the user is erased; the rest stays. */
export interface StoredAuditActor {
  userId?: string;
  userIdHash?: string;
  roles?: string[];
  system?: string;
}

/** Whose data the entry concerns, as stored: `userId` is removed when the user is erased. */
export interface StoredAuditSubject {
  userIdHash: string;
  userId?: string;
}

/** The fields of an entry of chat_audit_log that the chain covers, plus the plain ids it does not. */
export interface ChainedAuditEntry {
  seq: number;
  at: Date;
  action: string;
  actor: StoredAuditActor;
  subject: StoredAuditSubject | null;
  target: { type: string; id: string } | null;
  details: Record<string, unknown>;
  /** The hash of the entry before (seq − 1); null only for the first entry ever (seq 1). */
  prevHash: string | null;
  hash: string;
}

const ENTRY_LABEL = 'audit-entry:v1\n';
const USER_ID_LABEL = 'user-id:';
const IP_LABEL = 'ip-address:';
const FINGERPRINT_LABEL = 'audit-hash-key-fingerprint';

function hmac(key: AuditHashKey, label: string, text: string): string {
  return createHmac('sha256', key).update(label).update(text, 'utf8').digest('hex');
}

/** The keyed hash that stands for a user id in the log (and finds the entries about a user). */
export function keyedUserIdHash(key: AuditHashKey, userId: string): string {
  return hmac(key, USER_ID_LABEL, userId);
}

/** The keyed hash that stands for a client address (bursts of failed authentication). */
export function keyedIpHash(key: AuditHashKey, ip: string): string {
  return hmac(key, IP_LABEL, ip);
}

/** Names a key without revealing it: stored with the log, so a different key is noticed before it writes entries no one can verify. */
export function keyFingerprint(key: AuditHashKey): string {
  return hmac(key, FINGERPRINT_LABEL, '').slice(0, 32);
}

/**
 * The entry's hash: over the canonical JSON of every field except its own hash, its `_id` (a
 * storage detail) and the plain user ids, which erasure removes while the chain stays intact.
 * A plain id that is present is checked against its keyed hash instead (see ChainChecker).
 */
export function entryHash(key: AuditHashKey, entry: Omit<ChainedAuditEntry, 'hash'>): string {
  const content = {
    seq: entry.seq,
    at: entry.at,
    action: entry.action,
    actor: withoutPlainUserId(entry.actor),
    subject: entry.subject ? withoutPlainUserId(entry.subject) : null,
    target: entry.target ?? null,
    details: entry.details ?? {},
    prevHash: entry.prevHash ?? null,
  };
  return hmac(key, ENTRY_LABEL, canonicalJson(content));
}

/** A party as hashed: everything but its plain user id (anything stored that is not an object is hashed as it is). */
function withoutPlainUserId(party: unknown): unknown {
  if (typeof party !== 'object' || party === null || Array.isArray(party)) return party;
  const { userId: _plain, ...rest } = party as { userId?: unknown };
  return rest;
}

/**
 * JSON with object keys sorted at every level, dates as ISO strings and `undefined` left out: the
 * same value always gives the same text, whatever order the store answers fields in.
 */
export function canonicalJson(value: unknown): string {
  if (value instanceof Date) return JSON.stringify(Number.isNaN(value.getTime()) ? null : value.toISOString());
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  const json = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof json === 'function') return canonicalJson(json.call(value));
  const fields = Object.keys(value)
    .filter((name) => (value as Record<string, unknown>)[name] !== undefined)
    .sort()
    .map((name) => `${JSON.stringify(name)}:${canonicalJson((value as Record<string, unknown>)[name])}`);
  return `{${fields.join(',')}}`;
}

/**
 * What `details` may hold: plain JSON (dates become ISO strings, `undefined` goes), so what is
 * stored reads back exactly as it was hashed.
 */
export function toPlainJson(details: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!details) return {};
  return JSON.parse(JSON.stringify(details)) as Record<string, unknown>;
}

/** An `audit.pruned` entry: it vouches for the entries before the first one kept. */
export interface PruneAnchor {
  /** The audit.pruned entry's own seq. */
  seq: number;
  /** The first and last seq the pruning removes. */
  fromSeq: number;
  throughSeq: number;
  /** The hash of the entry at `throughSeq`: what the first entry kept names as its prevHash. */
  lastPrunedHash: string;
}

export type ChainProblem = 'hash-mismatch' | 'prev-hash-mismatch' | 'seq-gap' | 'unanchored-start' | 'anchor-mismatch' | 'user-id-mismatch';

/** The first entry at which the chain does not hold. */
export interface BrokenLink {
  seq: number;
  problem: ChainProblem;
  message: string;
}

/** The link checked last, the pruning the start relies on, and what a pruning left half-done still has to show. */
interface CheckerState {
  last: { seq: number; hash: string } | null;
  anchor: PruneAnchor | null;
  pendingAnchor: PruneAnchor | null;
}

/**
 * Checks entries one by one in seq order (streamed: it keeps only the previous link). The first
 * entry is either the first ever (seq 1, no prevHash) or the first kept after a pruning, which an
 * `audit.pruned` entry further on vouches for: its recorded hash of the last pruned entry must be
 * the first kept entry's prevHash. A pruning interrupted half-way (its entries deleted from the
 * oldest on) leaves a start inside the recorded range; the chain from there must then reach the
 * recorded last pruned entry with the recorded hash.
 */
export class ChainChecker {
  private readonly state: CheckerState = { last: null, anchor: null, pendingAnchor: null };
  private checkedCount = 0;

  constructor(
    private readonly key: AuditHashKey,
    /** The latest audit.pruned entry whose range reaches `firstSeq` (fromSeq ≤ firstSeq ≤ throughSeq + 1). */
    private readonly anchorFor: (firstSeq: number) => Promise<PruneAnchor | null>,
  ) {}

  get checked(): number {
    return this.checkedCount;
  }

  get last(): { seq: number; hash: string } | null {
    return this.state.last;
  }

  /** The pruning the start of the chain relies on, once the first entry has been checked. */
  get anchor(): PruneAnchor | null {
    return this.state.anchor;
  }

  async check(entry: ChainedAuditEntry): Promise<BrokenLink | null> {
    const problem = (await this.checkLink(entry)) ?? this.checkContent(entry);
    if (problem) return problem;
    const pending = this.state.pendingAnchor;
    if (pending && entry.seq === pending.throughSeq) {
      if (entry.hash !== pending.lastPrunedHash) {
        return broken(
          entry.seq,
          'anchor-mismatch',
          `entry ${entry.seq} is the last one the audit.pruned entry ${pending.seq} records as pruned, but its hash differs from the one recorded there`,
        );
      }
      this.state.pendingAnchor = null;
    }
    this.state.last = { seq: entry.seq, hash: entry.hash };
    this.checkedCount += 1;
    return null;
  }

  private async checkLink(entry: ChainedAuditEntry): Promise<BrokenLink | null> {
    const previous = this.state.last;
    if (previous) {
      if (entry.seq !== previous.seq + 1) {
        return entry.seq > previous.seq + 1
          ? broken(
              previous.seq + 1,
              'seq-gap',
              `entries ${rangeText(previous.seq + 1, entry.seq - 1)} are missing (the next present is ${entry.seq})`,
            )
          : broken(entry.seq, 'seq-gap', `entry ${entry.seq} comes after ${previous.seq}: seq out of order or repeated`);
      }
      if (entry.prevHash !== previous.hash) {
        return broken(
          entry.seq,
          'prev-hash-mismatch',
          `entry ${entry.seq} does not name the hash of entry ${previous.seq} as its prevHash`,
        );
      }
      return null;
    }
    if (entry.seq === 1) {
      return entry.prevHash === null ? null : broken(1, 'prev-hash-mismatch', 'entry 1, the first ever, names a prevHash');
    }
    const anchor = await this.anchorFor(entry.seq);
    if (!anchor) {
      return broken(
        entry.seq,
        'unanchored-start',
        `entries ${rangeText(1, entry.seq - 1)} are missing and no audit.pruned entry records that they were pruned`,
      );
    }
    this.state.anchor = anchor;
    if (entry.seq === anchor.throughSeq + 1) {
      if (entry.prevHash !== anchor.lastPrunedHash) {
        return broken(
          entry.seq,
          'anchor-mismatch',
          `entry ${entry.seq}, the first kept, does not name the hash the audit.pruned entry ${anchor.seq} recorded for entry ${anchor.throughSeq}`,
        );
      }
    } else {
      this.state.pendingAnchor = anchor;
    }
    return null;
  }

  private checkContent(entry: ChainedAuditEntry): BrokenLink | null {
    if (entryHash(this.key, entry) !== entry.hash) {
      return broken(entry.seq, 'hash-mismatch', `entry ${entry.seq} was changed after it was written: its content does not match its hash`);
    }
    for (const [role, party] of [
      ['actor', entry.actor],
      ['subject', entry.subject],
    ] as const) {
      if (party?.userId !== undefined && keyedUserIdHash(this.key, party.userId) !== party.userIdHash) {
        return broken(entry.seq, 'user-id-mismatch', `entry ${entry.seq}: the ${role}'s user id does not match its keyed hash`);
      }
    }
    return null;
  }

  /** After the last entry: a pruning whose recorded last entry was never reached. */
  finish(): BrokenLink | null {
    const pending = this.state.pendingAnchor;
    if (!pending) return null;
    return broken(
      (this.state.last?.seq ?? pending.throughSeq) + 1,
      'anchor-mismatch',
      `the chain ends before entry ${pending.throughSeq}, which the audit.pruned entry ${pending.seq} records as the last pruned`,
    );
  }
}

function broken(seq: number, problem: ChainProblem, message: string): BrokenLink {
  return { seq, problem, message };
}

function rangeText(from: number, through: number): string {
  return from === through ? `${from}` : `${from}..${through}`;
}
