import { createReadStream } from 'node:fs';
import { opendir, readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import mongoose from 'mongoose';
import { PARTIAL_SUFFIX, writeFileDurably } from '../../common/storage/durable-file.js';
import {
  BACKUP_FORMAT,
  BACKUP_VERSION,
  BackupManifest,
  FILES_DIR,
  FILES_LIST,
  FileEntry,
  MANIFEST_FILE,
  isRestorableCollection,
  progressPrinter,
  sha256Of,
} from './backup-format.js';

const { EJSON } = mongoose.mongo.BSON;
/** Documents per insert, and the most bytes of Extended JSON gathered for one. */
const INSERT_BATCH = 1000;
const INSERT_BATCH_BYTES = 8 * 1024 * 1024;

export interface RestoreOptions {
  from: string;
  attachmentsDir: string | null;
  /** Replace what the target holds (its collections are dropped first). */
  force: boolean;
  log: (line: string) => void;
}

/** The backup is damaged or incomplete: nothing was written. */
export class BackupInvalidError extends Error {}
/** The target holds data and --force was not given: nothing was written. */
export class TargetNotEmptyError extends Error {}

/**
 * Restores a backup whose checksums `verifyBackup` checked (it answers the manifest): refuses a
 * target that holds data unless `force`, then restores the documents (streamed, in batches), the
 * indexes and the files (each checked against its checksum as it is written), and checks the
 * counts afterwards.
 */
export async function restoreBackup(db: mongoose.mongo.Db, manifest: BackupManifest, options: RestoreOptions): Promise<void> {
  if (manifest.files && !options.attachmentsDir) {
    throw new BackupInvalidError(
      'The backup holds attachment files but attachments are not stored on local disk here (ATTACHMENT_STORAGE=local)',
    );
  }
  const existing = (await db.listCollections({}, { nameOnly: true }).toArray())
    .map((c) => c.name)
    .filter((name) => !name.startsWith('system.'));
  const occupied = [];
  for (const name of existing) if ((await db.collection(name).findOne({}, { projection: { _id: 1 } })) !== null) occupied.push(name);
  const filesThere = options.attachmentsDir ? await hasEntries(options.attachmentsDir) : false;
  if (!options.force && (occupied.length > 0 || filesThere)) {
    throw new TargetNotEmptyError(
      `The target is not empty (${[...occupied.slice(0, 5), ...(filesThere ? [`files in ${options.attachmentsDir}`] : [])].join(', ')}` +
        `${occupied.length > 5 ? ', …' : ''}): restore into an empty database, or pass --force to replace what it holds`,
    );
  }
  if (options.force) for (const name of existing) await db.collection(name).drop();

  const progress = progressPrinter(options.log);
  for (const entry of manifest.collections) {
    const collection = db.collection(entry.name);
    await db.createCollection(entry.name).catch((error: unknown) => {
      // Already there (an empty collection of the target): documents go into it.
      if ((error as { codeName?: string }).codeName !== 'NamespaceExists') throw error;
    });
    let batch: mongoose.mongo.BSON.Document[] = [];
    let batchBytes = 0;
    let restored = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      await collection.insertMany(batch, { ordered: true });
      restored += batch.length;
      batch = [];
      batchBytes = 0;
      progress(`${entry.name}: ${restored.toLocaleString('en-US')} / ${entry.documents.toLocaleString('en-US')} documents`);
    };
    for await (const line of lines(insideOf(options.from, entry.file))) {
      batch.push(EJSON.parse(line, { relaxed: false }) as mongoose.mongo.BSON.Document);
      batchBytes += line.length;
      if (batch.length >= INSERT_BATCH || batchBytes >= INSERT_BATCH_BYTES) await flush();
    }
    await flush();
    if (entry.indexes.length > 0) {
      await collection.createIndexes(
        entry.indexes.map((index) => EJSON.deserialize(index, { relaxed: false }) as mongoose.mongo.IndexDescription),
      );
    }
    progress(`${entry.name}: ${restored.toLocaleString('en-US')} documents, ${entry.indexes.length} index(es)`, true);
  }

  if (manifest.files && options.attachmentsDir) {
    let copied = 0;
    for await (const file of fileEntries(options.from, manifest)) {
      // Compared with the manifest before it takes its name: a wrong file is never left in place.
      await writeFileDurably(
        insideOf(options.attachmentsDir, file.path),
        createReadStream(insideOf(join(options.from, FILES_DIR), file.path)),
        {
          expectSha256: file.sha256,
          verify: true,
        },
      );
      copied += 1;
      progress(`attachment files: ${copied.toLocaleString('en-US')} / ${manifest.files.count.toLocaleString('en-US')}`);
    }
    progress(`attachment files: ${copied.toLocaleString('en-US')}`, true);
  }

  const mismatched = [];
  for (const entry of manifest.collections) {
    const count = await db.collection(entry.name).countDocuments();
    if (count !== entry.documents) mismatched.push(`${entry.name}: ${count} documents, the backup has ${entry.documents}`);
  }
  if (mismatched.length > 0) throw new Error(`The restored counts differ from the backup's: ${mismatched.join('; ')}`);
}

/** Reads the manifest and checks every file it names against its checksum; throws BackupInvalidError on the first problems found. */
export async function verifyBackup(directory: string, log: (line: string) => void): Promise<BackupManifest> {
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await readFile(join(directory, MANIFEST_FILE), 'utf8')) as BackupManifest;
  } catch (error) {
    throw new BackupInvalidError(`${join(directory, MANIFEST_FILE)} cannot be read (${(error as Error).message}): not a finished backup`);
  }
  if (manifest.format !== BACKUP_FORMAT || manifest.version !== BACKUP_VERSION) {
    throw new BackupInvalidError(`${directory} is not a backup this version can restore (format ${manifest.format} ${manifest.version})`);
  }
  if (!Array.isArray(manifest.collections) || manifest.collections.length === 0) {
    throw new BackupInvalidError(`The manifest in ${directory} lists no collections: there is nothing to restore`);
  }
  const names = manifest.collections.map((entry) => entry.name);
  const refused = names.filter((name, index) => !isRestorableCollection(name) || names.indexOf(name) !== index);
  if (refused.length > 0)
    throw new BackupInvalidError(`The manifest names collections that cannot be restored (or twice): ${refused.join(', ')}`);
  const problems: string[] = [];
  const check = async (relativePath: string, expected: { sha256: string; bytes: number }) => {
    try {
      const actual = await sha256Of(insideOf(directory, relativePath));
      if (actual.sha256 !== expected.sha256 || actual.bytes !== expected.bytes) problems.push(`${relativePath}: checksum mismatch`);
    } catch (error) {
      problems.push(`${relativePath}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  for (const entry of manifest.collections) await check(entry.file, entry);
  if (manifest.files) await check(manifest.files.list, { sha256: manifest.files.listSha256, bytes: manifest.files.listBytes });
  if (problems.length === 0 && manifest.files) {
    let checked = 0;
    for await (const file of fileEntries(directory, manifest)) {
      if (!isPlainRelativePath(file.path)) {
        problems.push(`${FILES_LIST}: ${JSON.stringify(file.path)} is not a path within the attachments directory`);
        break;
      }
      await check(join(FILES_DIR, file.path), file);
      checked += 1;
      if (problems.length >= 20) break;
    }
    log(`checked ${checked.toLocaleString('en-US')} attachment file(s)`);
  }
  if (problems.length > 0)
    throw new BackupInvalidError(`The backup in ${directory} is damaged; nothing was restored:\n  ${problems.join('\n  ')}`);
  log(
    `backup verified: ${manifest.collections.length} collections, schema ${manifest.schemaVersion ?? 'none'}, taken ${manifest.startedAt}`,
  );
  return manifest;
}

async function* lines(path: string): AsyncGenerator<string> {
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) if (line.length > 0) yield line;
}

async function* fileEntries(directory: string, manifest: BackupManifest): AsyncGenerator<FileEntry> {
  for await (const line of lines(join(directory, manifest.files!.list))) yield JSON.parse(line) as FileEntry;
}

/** A relative path of plain segments: no absolute path, no `.` or `..`, no empty segment, no temporary file. */
function isPlainRelativePath(path: unknown): path is string {
  return (
    typeof path === 'string' &&
    path.length > 0 &&
    !isAbsolute(path) &&
    path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..' && !/[\\\0]/.test(segment)) &&
    !path.endsWith(PARTIAL_SUFFIX)
  );
}

/** A path named by the backup, refused when it would lead out of `root`. */
function insideOf(root: string, relativePath: string): string {
  const base = resolve(root);
  const path = resolve(base, relativePath);
  if (!path.startsWith(base + sep)) throw new BackupInvalidError(`The backup names a path outside its directory: ${relativePath}`);
  return path;
}

async function hasEntries(directory: string): Promise<boolean> {
  let entries;
  try {
    entries = await opendir(directory);
  } catch {
    return false;
  }
  try {
    return (await entries.read()) !== null;
  } finally {
    await entries.close();
  }
}
