import { lstat, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** The spool's directory name inside the data-exports directory (a name no archive owner can have). */
export const SPOOL_DIRECTORY = '.spool';
/** A spool directory no export of this instance uses and nothing was written to for this long belongs to a run that died. */
export const SPOOL_IDLE_MS = 60 * 60_000;

/** Where an archive being written keeps its CSV renderings until they are added. */
export interface SpoolArea {
  /** A new empty directory, private to one archive. */
  open(): Promise<string>;
  /** Deletes the directory and everything in it. */
  close(directory: string): Promise<void>;
}

/**
 * The spool of the archives being written: one directory per archive under
 * `$DATA_DIR/data-exports/.spool`, deleted when the archive is done, failed or aborted. A process
 * killed part-way leaves its directory (message texts in CSV) behind; `sweep` (from the
 * data-exports job, every minute and at boot) removes those.
 */
export class ExportSpool implements SpoolArea {
  private readonly inUse = new Set<string>();

  constructor(readonly root: string) {}

  async open(): Promise<string> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    // mkdtemp makes it 0700: readable by the service's own user only.
    const directory = await mkdtemp(join(this.root, 'export-'));
    this.inUse.add(directory);
    return directory;
  }

  async close(directory: string): Promise<void> {
    try {
      await rm(directory, { recursive: true, force: true });
    } finally {
      this.inUse.delete(directory);
    }
  }

  /**
   * Removes the spool directories left by runs that died: not used by this instance, and nothing
   * in them written for `idleMs` (another instance sharing DATA_DIR writes to its own as its
   * export goes on). Answers how many were removed.
   */
  async sweep(now: Date, idleMs = SPOOL_IDLE_MS): Promise<number> {
    let removed = 0;
    for (const name of await entriesOf(this.root)) {
      const directory = join(this.root, name);
      if (this.inUse.has(directory)) continue;
      const lastWrite = await lastWriteIn(directory);
      if (lastWrite === null || now.getTime() - lastWrite < idleMs) continue;
      await rm(directory, { recursive: true, force: true });
      removed += 1;
    }
    return removed;
  }
}

/** The latest modification time of the directory and the files in it; null when it is gone meanwhile. */
async function lastWriteIn(directory: string): Promise<number | null> {
  const times: number[] = [];
  for (const path of [directory, ...(await entriesOf(directory)).map((name) => join(directory, name))]) {
    try {
      times.push((await lstat(path)).mtimeMs);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return times.length === 0 ? null : Math.max(...times);
}

async function entriesOf(directory: string): Promise<string[]> {
  try {
    return await readdir(directory);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw error;
  }
}
