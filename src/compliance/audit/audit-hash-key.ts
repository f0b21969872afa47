import { randomBytes } from 'node:crypto';
import type mongoose from 'mongoose';
import { AuditHashKey, keyFingerprint } from './audit-chain.js';

type Db = mongoose.mongo.Db;

/** Small records of the audit log itself; today only its hash key (`_id: 'hash-key'`). */
export const AUDIT_SETTINGS_COLLECTION = 'chat_audit_settings';
const HASH_KEY_ID = 'hash-key';
const GENERATED_KEY_BYTES = 32;

interface HashKeyRecord {
  _id: string;
  /** Names the key the log is written with (see keyFingerprint). */
  fingerprint: string;
  /** The key itself, base64, only when it was generated (CHAT_AUDIT_HASH_KEY unset). */
  generatedKey?: string;
  createdAt: Date;
}

/** The configured key is not the one the log was written with, or the key the log needs is gone. */
export class AuditHashKeyError extends Error {
  override readonly name = 'AuditHashKeyError';
}

/**
 * The audit hash key for the app: CHAT_AUDIT_HASH_KEY when set, else a random key generated once
 * and kept in chat_audit_settings. The record is created with an upsert on a fixed `_id`, so
 * instances starting together agree on one key (the loser of the insert race reads the winner's).
 * Refuses a configured key other than the one the log was started with, and a missing
 * CHAT_AUDIT_HASH_KEY when the log was started with one: entries written under another key could
 * never be verified, nor found again by user.
 */
export async function establishAuditHashKey(db: Db, configured: string | undefined): Promise<AuditHashKey> {
  const candidate = configured === undefined ? randomBytes(GENERATED_KEY_BYTES) : Buffer.from(configured, 'utf8');
  const initial: Omit<HashKeyRecord, '_id'> = {
    fingerprint: keyFingerprint(candidate),
    ...(configured === undefined ? { generatedKey: candidate.toString('base64') } : {}),
    createdAt: new Date(),
  };
  const settings = db.collection<HashKeyRecord>(AUDIT_SETTINGS_COLLECTION);
  for (let attempt = 1; ; attempt += 1) {
    try {
      await settings.updateOne({ _id: HASH_KEY_ID }, { $setOnInsert: initial }, { upsert: true });
      break;
    } catch (error) {
      // Two upserts racing on one _id: one inserts, the other may fail with a duplicate key; it then finds the record.
      if ((error as { code?: number }).code !== 11000 || attempt >= 3) throw error;
    }
  }
  const key = await readAuditHashKey(db, configured);
  if (!key) throw new AuditHashKeyError('The audit hash key record vanished while it was being created');
  return key;
}

/**
 * The key the log was written with, for checking it (never creates one): the configured key when
 * it matches the recorded fingerprint, else the generated key kept in the database; null when the
 * log has no key yet (nothing was ever written).
 */
export async function readAuditHashKey(db: Db, configured: string | undefined): Promise<AuditHashKey | null> {
  const record = await db.collection<HashKeyRecord>(AUDIT_SETTINGS_COLLECTION).findOne({ _id: HASH_KEY_ID });
  if (!record) return configured === undefined ? null : Buffer.from(configured, 'utf8');
  if (configured !== undefined) {
    const key = Buffer.from(configured, 'utf8');
    if (keyFingerprint(key) !== record.fingerprint) {
      throw new AuditHashKeyError(
        record.generatedKey
          ? 'CHAT_AUDIT_HASH_KEY is set, but the audit log was started without it (with a generated key kept in the database): ' +
              'unset CHAT_AUDIT_HASH_KEY, or start a new audit log'
          : 'CHAT_AUDIT_HASH_KEY is not the key the audit log was written with: set it back to that key',
      );
    }
    return key;
  }
  if (!record.generatedKey) {
    throw new AuditHashKeyError('The audit log was written with CHAT_AUDIT_HASH_KEY, which is not set now: set it to that key');
  }
  return Buffer.from(record.generatedKey, 'base64');
}
