import { createReadStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { PARTIAL_SUFFIX, writeFileDurably } from '../../../common/storage/durable-file.js';
import { ArchiveMissingError, ArchiveRef, ArchiveStore, StoredArchive, archiveKey } from './archive-store.js';

/**
 * Archives on the local disk, in `data-exports` under DATA_DIR (beside the attachments
 * directory): `<root>/<owner>/<export id>.zip`. A write goes to a temporary name beside the final
 * one, is flushed to disk (fsync), then renamed into place and the directory flushed
 * (writeFileDurably), so a crash leaves either the whole archive or none under its name.
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
    // What an interrupted run of this export left (the job's claim makes this the only writer).
    await this.removePartials(target);
    return { driver: this.driver, key, ...(await writeFileDurably(target, source)) };
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

  async removeAllOf(owner: string): Promise<number> {
    const count = await this.countOf(owner);
    await rm(this.pathOf(owner), { recursive: true, force: true });
    return count;
  }

  async countOf(owner: string): Promise<number> {
    return (await this.entriesOf(this.pathOf(owner))).filter((name) => name.endsWith('.zip')).length;
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
