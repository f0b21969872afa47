import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

/** An inclusive byte range, as HTTP Range uses. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface StoredFile {
  size: number;
  sha256: string;
}

/**
 * Where attachment bytes live. Writes are atomic: a file is visible under its key only once it
 * is complete and its checksum verified; a failed or aborted write leaves nothing behind.
 */
export interface AttachmentStorage {
  readonly driver: string;
  /** Streams `source` to `key`; rejects (and removes what was written) if `source` errors. */
  write(key: string, source: Readable, owner: string): Promise<StoredFile>;
  /** The stored bytes, or a slice of them. */
  read(key: string, range?: ByteRange): Promise<Readable>;
  /** Removes the file; removing a missing file is not an error. */
  remove(key: string): Promise<void>;
  /**
   * Removes every file stored for the owner (under its directory, or naming it as its owner),
   * whether or not a record still points at it: erasure's sweep for orphans. Answers how many.
   */
  removeOwnedBy(ownerId: string): Promise<number>;
}

export const ATTACHMENT_STORAGE = Symbol('ATTACHMENT_STORAGE');

export class StoredFileMissingError extends Error {
  constructor(key: string) {
    super(`Stored file ${key} is missing`);
  }
}

/**
 * The storage key of an attachment's bytes: generated from ids only (never from a file name), and
 * grouped under a directory per user, so erasure can find a user's files even without records.
 */
export function storageKeyFor(ownerId: string, attachmentId: string, variant?: 'thumbnail' | 'clean'): string {
  return `${ownerDirectory(ownerId)}/${attachmentId}${variant ? `.${variant}` : ''}`;
}

export function ownerDirectory(ownerId: string): string {
  return `u_${createHash('sha256').update(ownerId).digest('hex').slice(0, 32)}`;
}
