import type mongoose from 'mongoose';
import { BrokenLink, ChainChecker, ChainedAuditEntry, PruneAnchor } from './audit-chain.js';
import { readAuditHashKey } from './audit-hash-key.js';
import { AUDIT_LOG_COLLECTION } from './schemas/audit-entry.schema.js';

type Db = mongoose.mongo.Db;

export interface AuditChainReport {
  intact: boolean;
  /** Entries checked (up to the first broken link). */
  entries: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** The hash of the last entry: record it elsewhere to detect, later, that newest entries were removed. */
  lastHash: string | null;
  /** The audit.pruned entry that vouches for the start of the chain, when older entries were pruned. */
  anchor: PruneAnchor | null;
  /** The first entry at which the chain does not hold; null when intact. */
  broken: BrokenLink | null;
}

/**
 * Walks the whole audit chain in seq order, streamed, and names the first broken link: an entry
 * changed after it was written (hash mismatch), a link that does not name the previous entry's
 * hash, a gap in seq (entries deleted), a start no audit.pruned entry vouches for, or a plain user
 * id that does not match its keyed hash. Without `hashKey` (CHAT_AUDIT_HASH_KEY), the key
 * generated and kept in the database is used. Throws when the chain cannot be checked at all
 * (a key other than the log's, or none).
 */
export async function verifyAuditChain(db: Db, hashKey?: string): Promise<AuditChainReport> {
  const entries = db.collection<ChainedAuditEntry>(AUDIT_LOG_COLLECTION);
  const key = await readAuditHashKey(db, hashKey);
  const report: AuditChainReport = { intact: true, entries: 0, firstSeq: null, lastSeq: null, lastHash: null, anchor: null, broken: null };
  if (!key) {
    if ((await entries.findOne({})) === null) return report;
    throw new Error('The audit log has entries but no hash key: set CHAT_AUDIT_HASH_KEY to the key it was written with');
  }
  const checker = new ChainChecker(key, (firstSeq) => findAnchor(db, firstSeq));
  const cursor = entries.find({}, { sort: { seq: 1 }, batchSize: 1000 });
  try {
    for await (const entry of cursor) {
      report.firstSeq ??= entry.seq;
      const broken = await checker.check(entry);
      if (broken) {
        report.broken = broken;
        break;
      }
    }
  } finally {
    await cursor.close();
  }
  report.broken ??= checker.finish();
  report.intact = report.broken === null;
  report.entries = checker.checked;
  report.lastSeq = checker.last?.seq ?? null;
  report.lastHash = checker.last?.hash ?? null;
  report.anchor = checker.anchor;
  return report;
}

/** The latest audit.pruned entry whose recorded range reaches `firstSeq`. */
export async function findAnchor(db: Db, firstSeq: number): Promise<PruneAnchor | null> {
  const pruning = await db
    .collection<ChainedAuditEntry>(AUDIT_LOG_COLLECTION)
    .findOne(
      { action: 'audit.pruned', 'details.fromSeq': { $lte: firstSeq }, 'details.throughSeq': { $gte: firstSeq - 1 } },
      { sort: { seq: -1 } },
    );
  return pruning ? toAnchor(pruning) : null;
}

/** The range and hash an audit.pruned entry records, or null when its details are not a pruning record. */
export function toAnchor(entry: Pick<ChainedAuditEntry, 'seq' | 'details'>): PruneAnchor | null {
  const { fromSeq, throughSeq, lastPrunedHash } = entry.details;
  if (typeof fromSeq !== 'number' || typeof throughSeq !== 'number' || typeof lastPrunedHash !== 'string') return null;
  return { seq: entry.seq, fromSeq, throughSeq, lastPrunedHash };
}
