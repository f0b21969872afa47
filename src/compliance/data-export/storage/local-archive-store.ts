import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArchiveMissingError, ArchiveRef, ArchiveStore, StoredArchive, archiveKey, subjectDirectory } from './archive-store.js';

const PARTIAL_SUFFIX = '.partial';
/** Lets several chunks gather into one writev instead of one disk round trip each. */
const WRITE_BUFFER_BYTES = 1024 * 1024;

/**
 * Archives on the local disk, in `data-exports` under DATA_DIR (beside the attachments
 * directory): `<root>/u_<hash>/<export id>.zip`. A write goes to a temporary name beside the final
 * one, is flushed to disk (fsync), then renamed into place and the directory flushed, so a crash
 * leaves either the whole archive or none under its name.
 */
export class LocalArchiveStore implements ArchiveStore {
  readonly driver = 'local';
  private readonly root: string;

  constructor(directory: string) {
    this.root = resolve(directory);
  }

  async write(ref: ArchiveRef, source: Readable): Promise<StoredArchive> {
    const key = archiveKey(ref);
    const target = this.pathOf(key);
    const directory = dirname(target);
    await mkdir(directory, { recursive: true });
    // What an interrupted run of this export left (the job's claim makes this the only writer).
    await this.removePartials(target);
    const temporary = `${target}.${randomBytes(6).toString('hex')}${PARTIAL_SUFFIX}`;
    const hash = createHash('sha256');
    let size = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(source, measure, createWriteStream(temporary, { flags: 'wx', highWaterMark: WRITE_BUFFER_BYTES }));
      await flushToDisk(temporary);
      await rename(temporary, target);
      await flushToDisk(directory);
      return { driver: this.driver, key, size, sha256: hash.digest('hex') };
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async read(ref: ArchiveRef): Promise<Readable> {
    const key = archiveKey(ref);
    const path = this.pathOf(key);
    try {
      await stat(path);
    } catch {
      throw new ArchiveMissingError(key);
    }
    return createReadStream(path);
  }

  async remove(ref: ArchiveRef): Promise<void> {
    const target = this.pathOf(archiveKey(ref));
    await rm(target, { force: true });
    await this.removePartials(target);
  }

  async removeAllOf(subjectUserId: string): Promise<number> {
    const count = await this.countOf(subjectUserId);
    await rm(this.pathOf(subjectDirectory(subjectUserId)), { recursive: true, force: true });
    return count;
  }

  async countOf(subjectUserId: string): Promise<number> {
    return (await this.entriesOf(this.pathOf(subjectDirectory(subjectUserId)))).filter((name) => name.endsWith('.zip')).length;
  }

  private async removePartials(target: string): Promise<void> {
    const prefix = `${target.slice(dirname(target).length + 1)}.`;
    for (const name of await this.entriesOf(dirname(target))) {
      if (name.startsWith(prefix) && name.endsWith(PARTIAL_SUFFIX)) await rm(join(dirname(target), name), { force: true });
    }
  }

  private async entriesOf(directory: string): Promise<string[]> {
    try {
      return await readdir(directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  private pathOf(key: string): string {
    const path = resolve(join(this.root, key));
    // Keys are generated from ids; this guards the invariant anyway.
    if (!path.startsWith(this.root + sep)) throw new Error(`Archive key escapes the data-exports directory: ${key}`);
    return path;
  }
}

/** fsync: the bytes (or, for a directory, the rename) survive a power loss once this resolves. */
async function flushToDisk(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
