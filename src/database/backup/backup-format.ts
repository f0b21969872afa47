import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';

/**
 * A backup directory:
 *
 *     manifest.json              what is in it, with counts and checksums (below)
 *     collections/<name>.jsonl   each collection, one document a line, canonical Extended JSON
 *                                (what `mongoimport` reads)
 *     files.jsonl                the attachment files copied: {path, bytes, sha256} a line
 *     files/<path>               the files themselves, at their path in ATTACHMENTS_DIR
 */
export const MANIFEST_FILE = 'manifest.json';
export const COLLECTIONS_DIR = 'collections';
export const FILES_LIST = 'files.jsonl';
export const FILES_DIR = 'files';
export const BACKUP_FORMAT = 'wms-chat-backup';
export const BACKUP_VERSION = 1;

/** An index as listIndexes describes it, without the fields the server fills in; in the manifest as canonical Extended JSON. */
export type IndexSpec = { key: Record<string, unknown>; name: string } & Record<string, unknown>;

export interface CollectionEntry {
  name: string;
  /** Relative to the backup directory. */
  file: string;
  documents: number;
  bytes: number;
  sha256: string;
  indexes: IndexSpec[];
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  version: typeof BACKUP_VERSION;
  database: string;
  /** The last migration applied to the database backed up (its schema version); null when none. */
  schemaVersion: string | null;
  startedAt: string;
  finishedAt: string;
  collections: CollectionEntry[];
  /** The attachment files: their list (FILES_LIST, with its own size and checksum), how many and their bytes. */
  files: { list: string; listBytes: number; listSha256: string; count: number; bytes: number } | null;
  /** Collections whose document count changed while the backup ran (written to meanwhile). */
  changedDuringBackup: string[];
}

export interface FileEntry {
  path: string;
  bytes: number;
  sha256: string;
}

/** The SHA-256 of a file, streamed. */
export async function sha256Of(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** A collection's file: the name encoded, so that a `/` or `..` in it stays within collections/. */
export function collectionFile(name: string): string {
  return join(COLLECTIONS_DIR, `${encodeURIComponent(name)}.jsonl`);
}

/** Collections a backup may name: MongoDB's own (system.*) are the server's, and a name holds no `$` or NUL. */
export function isRestorableCollection(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && !name.startsWith('system.') && !/[$\0]/.test(name);
}

/** Prints progress at most once a second (and always when `done`). */
export function progressPrinter(write: (line: string) => void): (line: string, done?: boolean) => void {
  let last = 0;
  return (line, done = false) => {
    const now = Date.now();
    if (!done && now - last < 1000) return;
    last = now;
    write(line);
  };
}
