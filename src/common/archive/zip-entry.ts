import type { ZipArchive } from 'archiver';
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';

/**
 * Appends one entry to a zip and resolves once the archive has consumed it, so the next entry is
 * read only then. The archive reads the entry through a carrier that never errors:
 * compress-commons re-emits an entry source's error where nobody listens, which would crash the
 * process (a store that goes away while a history is being zipped). A failing source rejects
 * here instead, and so does `signal` (the client went away: the archive will never consume the
 * entry); the caller then aborts the archive.
 */
export async function appendZipEntry(
  archive: ZipArchive,
  name: string,
  source: Readable,
  options: { date?: Date; signal?: AbortSignal } = {},
): Promise<void> {
  options.signal?.throwIfAborted();
  const carrier = new PassThrough();
  const failed = new Promise<never>((_resolve, reject) => source.once('error', reject));
  // Settled or not, the race below is what reports it.
  failed.catch(() => undefined);
  source.pipe(carrier);
  try {
    const added = once(archive, 'entry', options.signal ? { signal: options.signal } : {});
    archive.append(carrier, { name, ...(options.date ? { date: options.date } : {}) });
    await Promise.race([added, failed]);
  } catch (error) {
    source.destroy();
    carrier.destroy();
    throw error;
  }
}
