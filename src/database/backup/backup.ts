import { createReadStream } from 'node:fs';
import { mkdir, opendir, readdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import mongoose from 'mongoose';
import { PARTIAL_SUFFIX, flushToDisk, writeFileDurably } from '../../common/storage/durable-file.js';
import { CHANGELOG_COLLECTION } from '../migrations/migration-runner.js';
import {
  BACKUP_FORMAT,
  BACKUP_VERSION,
  BackupManifest,
  COLLECTIONS_DIR,
  CollectionEntry,
  FILES_DIR,
  FILES_LIST,
  FileEntry,
  IndexSpec,
  MANIFEST_FILE,
  collectionFile,
  isRestorableCollection,
  progressPrinter,
} from './backup-format.js';

const { EJSON } = mongoose.mongo.BSON;

export interface BackupOptions {
  /** An empty or missing directory. */
  out: string;
  /** The local attachment files' directory; null when files live in the database (GridFS) or are left out. */
  attachmentsDir: string | null;
  log: (line: string) => void;
}

/**
 * Writes every collection of `db` (one pass each, in _id order, streamed), the attachment files
 * and a manifest with counts and checksums. Each file is flushed to disk before the manifest is
 * written, and the manifest last: a backup without a manifest is an unfinished one.
 */
export async function writeBackup(db: mongoose.mongo.Db, options: BackupOptions): Promise<BackupManifest> {
  if (options.attachmentsDir && overlaps(options.out, options.attachmentsDir)) {
    throw new Error(`${options.out} and the attachments directory ${options.attachmentsDir} overlap: back up elsewhere`);
  }
  const startedAt = new Date();
  const schemaVersion = await schemaVersionOf(db);
  const names = (await db.listCollections({}, { nameOnly: true }).toArray())
    .map((collection) => collection.name)
    .filter(isRestorableCollection)
    .sort();
  if (names.length === 0) {
    // Most likely the wrong store or database (a new mongod where the embedded store was meant).
    throw new Error(`The database ${db.databaseName} holds no collections: nothing to back up (is this the store and database you meant?)`);
  }
  await ensureEmptyDirectory(options.out);
  const progress = progressPrinter(options.log);
  const countsBefore = new Map<string, number>();
  for (const name of names) countsBefore.set(name, await db.collection(name).countDocuments());

  const collections: CollectionEntry[] = [];
  for (const name of names) {
    const collection = db.collection(name);
    const total = countsBefore.get(name)!;
    const started = Date.now();
    let documents = 0;
    async function* lines(): AsyncGenerator<string> {
      // promoteValues off: an int64 stays a Long and a whole double a Double, so Extended JSON keeps their types.
      for await (const document of collection.find({}, { sort: { _id: 1 }, batchSize: 1000, promoteValues: false, bsonRegExp: true })) {
        documents += 1;
        progress(
          `${name}: ${documents.toLocaleString('en-US')} / ~${total.toLocaleString('en-US')} documents (${rate(documents, started)}/s)`,
        );
        yield `${EJSON.stringify(document, { relaxed: false })}\n`;
      }
    }
    const file = collectionFile(name);
    const written = await writeFileDurably(join(options.out, file), Readable.from(lines()));
    progress(`${name}: ${documents.toLocaleString('en-US')} documents`, true);
    collections.push({ name, file, documents, bytes: written.size, sha256: written.sha256, indexes: await indexesOf(collection) });
  }

  const files = options.attachmentsDir ? await copyFiles(options.attachmentsDir, options.out, progress) : null;

  const changedDuringBackup: string[] = [];
  for (const name of names) if ((await db.collection(name).countDocuments()) !== countsBefore.get(name)) changedDuringBackup.push(name);
  if ((await schemaVersionOf(db)) !== schemaVersion) {
    throw new Error('A migration was applied while the backup ran: its data mixes two schemas; back up again');
  }
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION,
    database: db.databaseName,
    schemaVersion,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    collections,
    files,
    changedDuringBackup,
  };
  // The directories' entries (collections/, files/) are on disk before the manifest says the backup is whole.
  await flushToDisk(join(options.out, COLLECTIONS_DIR));
  await flushToDisk(options.out);
  const manifestPath = join(options.out, MANIFEST_FILE);
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`, { flag: 'wx' });
  await flushToDisk(manifestPath);
  await flushToDisk(options.out);
  return manifest;
}

function overlaps(a: string, b: string): boolean {
  const [first, second] = [resolve(a), resolve(b)];
  return first === second || first.startsWith(second + sep) || second.startsWith(first + sep);
}

async function ensureEmptyDirectory(directory: string): Promise<void> {
  await mkdir(directory, { recursive: true });
  if ((await readdir(directory)).length > 0) throw new Error(`${directory} is not empty: back up into a new or empty directory`);
}

/** The collection's indexes but _id's, as listIndexes gives them (less the server's own fields), in canonical Extended JSON. */
async function indexesOf(collection: mongoose.mongo.Collection): Promise<IndexSpec[]> {
  const indexes = (await collection.listIndexes().toArray()) as IndexSpec[];
  return indexes
    .filter((index) => index.name !== '_id_')
    .map(({ v: _version, ns: _namespace, ...spec }) => EJSON.serialize(spec, { relaxed: false }) as IndexSpec);
}

async function schemaVersionOf(db: mongoose.mongo.Db): Promise<string | null> {
  const [last] = await db
    .collection<{ _id: string }>(CHANGELOG_COLLECTION)
    .find({}, { projection: { _id: 1 } })
    .sort({ _id: -1 })
    .limit(1)
    .toArray();
  return last?._id ?? null;
}

/** Copies every finished file under `root` (not the temporary ones of writes in progress), listing them in files.jsonl. */
async function copyFiles(
  root: string,
  out: string,
  progress: (line: string, done?: boolean) => void,
): Promise<NonNullable<BackupManifest['files']>> {
  let count = 0;
  let bytes = 0;
  const started = Date.now();
  async function* entries(): AsyncGenerator<string> {
    for await (const path of walk(root)) {
      const name = relative(root, path).split(sep).join('/');
      const copied = await writeFileDurably(join(out, FILES_DIR, name), createReadStream(path));
      count += 1;
      bytes += copied.size;
      progress(`attachment files: ${count.toLocaleString('en-US')} (${rate(count, started)}/s)`);
      const entry: FileEntry = { path: name, bytes: copied.size, sha256: copied.sha256 };
      yield `${JSON.stringify(entry)}\n`;
    }
  }
  const list = await writeFileDurably(join(out, FILES_LIST), Readable.from(entries()));
  progress(`attachment files: ${count.toLocaleString('en-US')}`, true);
  return { list: FILES_LIST, listBytes: list.size, listSha256: list.sha256, count, bytes };
}

/** The files under a directory, depth first in name order, read one directory entry at a time; none when it is missing. */
async function* walk(directory: string): AsyncGenerator<string> {
  let entries;
  try {
    entries = await opendir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const names: { name: string; directory: boolean }[] = [];
  for await (const entry of entries) names.push({ name: entry.name, directory: entry.isDirectory() });
  names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of names) {
    const path = join(directory, entry.name);
    if (entry.directory) yield* walk(path);
    else if (!entry.name.endsWith(PARTIAL_SUFFIX)) yield path;
  }
}

function rate(count: number, started: number): string {
  return Math.round(count / Math.max(0.001, (Date.now() - started) / 1000)).toLocaleString('en-US');
}
