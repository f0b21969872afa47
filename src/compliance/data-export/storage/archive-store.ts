import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

/** Which archive: the export job's id and whose data it holds (archives are grouped per subject). */
export interface ArchiveRef {
  exportId: string;
  subjectUserId: string;
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
  /** Removes every archive about the subject (erasure); answers how many there were. */
  removeAllOf(subjectUserId: string): Promise<number>;
  /** How many archives about the subject are stored. */
  countOf(subjectUserId: string): Promise<number>;
}

export const ARCHIVE_STORE = Symbol('DATA_EXPORT_ARCHIVE_STORE');

export class ArchiveMissingError extends Error {
  constructor(key: string) {
    super(`Export archive ${key} is not stored`);
    this.name = 'ArchiveMissingError';
  }
}

/** The directory of a subject's archives: from a hash of the id, so the id itself appears in no path or file name. */
export function subjectDirectory(subjectUserId: string): string {
  return `u_${createHash('sha256').update(subjectUserId).digest('hex').slice(0, 32)}`;
}

export function archiveKey(ref: ArchiveRef): string {
  return `${subjectDirectory(ref.subjectUserId)}/${ref.exportId}.zip`;
}
