import type { Readable } from 'node:stream';

/** Which archive: the export job's id and its owner (see ArchiveOwners: archives are grouped per subject). */
export interface ArchiveRef {
  exportId: string;
  /** `u_` and 32 hex characters: stands for the subject, who cannot be told from it without the audit hash key. */
  owner: string;
}

export interface StoredArchive {
  driver: string;
  key: string;
  size: number;
  sha256: string;
}

/**
 * Where finished export archives live: beside the attachment files, in the same storage driver
 * (ATTACHMENT_STORAGE). A write is atomic (the archive is visible only once complete and durable)
 * and idempotent per export (a rerun replaces what an interrupted run left).
 */
export interface ArchiveStore {
  readonly driver: string;
  /** Streams `source` into the export's archive; rejects (and leaves nothing) if `source` errors. */
  write(ref: ArchiveRef, source: Readable): Promise<StoredArchive>;
  /** The archive's bytes; ArchiveMissingError when it is not stored. */
  read(ref: ArchiveRef): Promise<Readable>;
  /** Removes the archive and whatever an interrupted write left of it; removing a missing one is not an error. */
  remove(ref: ArchiveRef): Promise<void>;
  /** Removes every archive of the owner (erasure); answers how many there were. */
  removeAllOf(owner: string): Promise<number>;
  /** How many archives of the owner are stored. */
  countOf(owner: string): Promise<number>;
}

export const ARCHIVE_STORE = Symbol('DATA_EXPORT_ARCHIVE_STORE');

export class ArchiveMissingError extends Error {
  constructor(key: string) {
    super(`Export archive ${key} is not stored`);
    this.name = 'ArchiveMissingError';
  }
}

/** An owner as ArchiveOwners makes them. */
export const ARCHIVE_OWNER = /^u_[0-9a-f]{32}$/;

/** `<owner>/<export id>.zip`: generated from ids only. */
export function archiveKey(ref: ArchiveRef): string {
  return `${ref.owner}/${ref.exportId}.zip`;
}
