import { ZipArchive } from 'archiver';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ExportPart, UserDataHolding, UserDataProvider } from '../../../common/user-data/user-data.js';
import { archiveReadme } from './archive-readme.js';
import type { SpoolArea } from './export-spool.js';
import { CsvSpool } from './records.js';

export const ARCHIVE_FORMAT = 'wms-chat-data-export';
export const ARCHIVE_FORMAT_VERSION = 1;

/** Bytes of JSON Lines gathered before a write: one record per write would cost a zlib call each. */
const WRITE_SIZE = 64 * 1024;
const PART_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/i;
const MAX_PATH_LENGTH = 500;

export interface ArchiveRequest {
  subjectUserId: string;
  requestedBy: { userId: string; roles: string[] };
  generatedAt: Date;
}

/** Where the writer has got to; one live object, updated in place (copy it to keep a snapshot). */
export interface ArchiveProgress {
  /** Entries written. */
  parts: number;
  records: number;
  /** Uncompressed bytes of the entries written so far. */
  bytes: number;
  currentPart: string | null;
}

export interface ArchiveOptions {
  /** Aborts the archive: the output is destroyed and no more is read from the providers. */
  signal?: AbortSignal;
  /** Called as records and bytes go in (often: throttle whatever it does). */
  onProgress?: (progress: Readonly<ArchiveProgress>) => void;
  /** Where CSV renderings wait for their turn in the archive (one directory, opened when the first is needed). */
  spool: SpoolArea;
}

export interface ManifestEntry {
  path: string;
  /** The provider whose data it is; null for the archive's own README.md and SHA256SUMS. */
  provider: string | null;
  kind: 'records' | 'file' | 'about';
  format: 'jsonl' | 'csv' | 'file' | 'markdown' | 'sha256sum';
  description: string;
  /** Records in a JSON Lines or CSV entry. */
  records?: number;
  /** The entry's bytes (uncompressed). */
  size: number;
  /** SHA-256 of the entry's bytes, computed as they were written. */
  sha256: string;
}

export interface ManifestProvider {
  name: string;
  holdings: UserDataHolding[];
  counts: { parts: number; records: number; files: number; bytes: number };
}

export interface ArchiveManifest {
  format: typeof ARCHIVE_FORMAT;
  formatVersion: number;
  subjectUserId: string;
  generatedAt: string;
  requestedBy: { userId: string; roles: string[] };
  providers: ManifestProvider[];
  entries: ManifestEntry[];
  totals: { entries: number; records: number; files: number; bytes: number };
}

/**
 * Writes a user's whole data archive as a zip to `output`: every provider's parts in
 * registration order (`json/<name>.jsonl` and, with CSV columns, `csv/<name>.csv` per records
 * part; `files/<path>` per file part), then README.md, SHA256SUMS and manifest.json. One entry at a
 * time, each read from its provider only as the archive consumes it, so memory does not grow with
 * the history. A records part's first record is fetched before its entry begins, so a store that
 * fails at once fails before the entry's first byte. On failure or abort the output is destroyed
 * (a cut zip has no central directory and is detectably incomplete) and the error rethrown.
 */
export async function writeDataArchive(
  output: NodeJS.WritableStream & { destroy(error?: Error): void },
  providers: readonly UserDataProvider[],
  request: ArchiveRequest,
  options: ArchiveOptions,
): Promise<ArchiveManifest> {
  const writer = new DataArchiveWriter(output, request, options);
  return writer.write(providers);
}

class DataArchiveWriter {
  private readonly archive = new ZipArchive({ zlib: { level: 6 } });
  private readonly stop = new AbortController();
  private readonly progress: ArchiveProgress = { parts: 0, records: 0, bytes: 0, currentPart: null };
  private readonly entries: ManifestEntry[] = [];
  private readonly paths = new Set<string>();
  /** The streams of the entry being consumed, destroyed on abort (which closes the provider's cursor). */
  private current: Readable[] = [];
  private spoolDirectory: string | null = null;

  constructor(
    private readonly output: NodeJS.WritableStream & { destroy(error?: Error): void },
    private readonly request: ArchiveRequest,
    private readonly options: ArchiveOptions,
  ) {}

  async write(providers: readonly UserDataProvider[]): Promise<ArchiveManifest> {
    const piping = pipeline(this.archive, this.output).catch((error: unknown) => this.abort(asError(error)));
    const onAbort = () => this.abort(asError(this.options.signal?.reason));
    this.options.signal?.addEventListener('abort', onAbort, { once: true });
    // Any error of the archive ends it (and one emitted after the pipeline has settled must not go unheard).
    this.archive.on('error', (error: unknown) => this.abort(asError(error)));
    this.stop.signal.addEventListener('abort', () => {
      for (const stream of this.current) stream.destroy();
      this.archive.abort();
    });
    try {
      this.options.signal?.throwIfAborted();
      const summaries: ManifestProvider[] = [];
      for (const provider of providers) summaries.push(await this.writeProvider(provider));
      const manifest = await this.finish(summaries);
      await Promise.race([this.archive.finalize(), rejectOnAbort(this.stop.signal)]);
      await piping;
      this.stop.signal.throwIfAborted();
      return manifest;
    } catch (error) {
      const cause = this.stop.signal.aborted ? asError(this.stop.signal.reason) : asError(error);
      this.abort(cause);
      this.output.destroy(cause);
      await piping;
      throw cause;
    } finally {
      this.options.signal?.removeEventListener('abort', onAbort);
      if (this.spoolDirectory) await this.options.spool.close(this.spoolDirectory);
    }
  }

  private abort(reason: Error): void {
    if (!this.stop.signal.aborted) this.stop.abort(reason);
  }

  private async writeProvider(provider: UserDataProvider): Promise<ManifestProvider> {
    const counts = { parts: 0, records: 0, files: 0, bytes: 0 };
    for await (const part of provider.export(this.request.subjectUserId)) {
      this.stop.signal.throwIfAborted();
      const written = part.kind === 'records' ? await this.writeRecords(provider.name, part) : [await this.writeFile(provider.name, part)];
      for (const entry of written) {
        counts.parts += 1;
        counts.bytes += entry.size;
        if (entry.kind === 'file') counts.files += 1;
      }
      // The JSON Lines and CSV entries hold the same records: counted once.
      counts.records += written[0]!.records ?? 0;
    }
    return { name: provider.name, holdings: provider.holdings.map((holding) => ({ ...holding })), counts };
  }

  private async writeRecords(provider: string, part: Extract<ExportPart, { kind: 'records' }>): Promise<ManifestEntry[]> {
    if (!PART_NAME.test(part.name)) throw new Error(`Provider ${provider} named a records part "${part.name}": not a safe file name`);
    const jsonPath = this.claimPath(`json/${part.name}.jsonl`);
    const csvPath = part.csvColumns ? this.claimPath(`csv/${part.name}.csv`) : null;
    const records = part.records[Symbol.asyncIterator]();
    // Asked before the entry begins: a store that fails right away fails before any byte of it.
    const first = await records.next();
    let csv: CsvSpool | null = null;
    try {
      if (csvPath && part.csvColumns) csv = new CsvSpool(join(await this.spool(), `${part.name}.csv`), part.csvColumns);
    } catch (error) {
      if (!first.done) await records.return?.();
      throw error;
    }
    const hash = createHash('sha256');
    let size = 0;
    let count = 0;
    const progress = this.progress;
    const report = () => this.options.onProgress?.(progress);
    async function* lines(): AsyncGenerator<Buffer> {
      let next = first;
      try {
        let pending: Buffer[] = [];
        let pendingBytes = 0;
        while (!next.done) {
          const line = Buffer.from(`${JSON.stringify(next.value)}\n`, 'utf8');
          hash.update(line);
          size += line.length;
          count += 1;
          progress.records += 1;
          progress.bytes += line.length;
          if (csv) await csv.add(next.value);
          pending.push(line);
          pendingBytes += line.length;
          if (pendingBytes >= WRITE_SIZE) {
            yield Buffer.concat(pending, pendingBytes);
            pending = [];
            pendingBytes = 0;
          }
          report();
          next = await records.next();
        }
        if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
      } finally {
        // Cut short (abort, failure): let the provider close its cursor.
        if (!next.done) await records.return?.();
      }
    }
    try {
      await this.addEntry(jsonPath, Readable.from(lines(), { objectMode: false }));
      const entries: ManifestEntry[] = [
        this.recordEntry({
          path: jsonPath,
          provider,
          kind: 'records',
          format: 'jsonl',
          description: part.description,
          records: count,
          size,
          sha256: hash.digest('hex'),
        }),
      ];
      if (csv && csvPath) {
        const spooled = await csv.finish();
        this.progress.bytes += spooled.size;
        await this.addEntry(csvPath, createReadStream(csv.path));
        await rm(csv.path, { force: true });
        entries.push(
          this.recordEntry({
            path: csvPath,
            provider,
            kind: 'records',
            format: 'csv',
            description: part.description,
            records: count,
            ...spooled,
          }),
        );
      }
      return entries;
    } catch (error) {
      csv?.discard();
      throw error;
    }
  }

  private async writeFile(provider: string, part: Extract<ExportPart, { kind: 'file' }>): Promise<ManifestEntry> {
    if (!isSafeRelativePath(part.path)) throw new Error(`Provider ${provider} named a file part "${part.path}": not a safe relative path`);
    const path = this.claimPath(`files/${part.path}`);
    const source = await part.open();
    const hash = createHash('sha256');
    let size = 0;
    const progress = this.progress;
    const report = () => this.options.onProgress?.(progress);
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        size += chunk.length;
        progress.bytes += chunk.length;
        report();
        done(null, chunk);
      },
    });
    source.pipe(measure);
    await this.addEntry(path, measure, [source]);
    return this.recordEntry({
      path,
      provider,
      kind: 'file',
      format: 'file',
      description: part.description,
      size,
      sha256: hash.digest('hex'),
    });
  }

  /** README.md, SHA256SUMS (both listed in the manifest) and manifest.json. */
  private async finish(providers: ManifestProvider[]): Promise<ArchiveManifest> {
    const totals = () => ({
      entries: this.entries.length,
      records: providers.reduce((sum, provider) => sum + provider.counts.records, 0),
      files: providers.reduce((sum, provider) => sum + provider.counts.files, 0),
      bytes: this.entries.reduce((sum, entry) => sum + entry.size, 0),
    });
    const manifest = (): ArchiveManifest => ({
      format: ARCHIVE_FORMAT,
      formatVersion: ARCHIVE_FORMAT_VERSION,
      subjectUserId: this.request.subjectUserId,
      generatedAt: this.request.generatedAt.toISOString(),
      requestedBy: { userId: this.request.requestedBy.userId, roles: [...this.request.requestedBy.roles] },
      providers,
      entries: this.entries,
      totals: totals(),
    });
    await this.addDocument(
      'README.md',
      'markdown',
      'What this archive is, each file in it, how to check it, and where the data comes from.',
      archiveReadme(manifest()),
    );
    const sums = this.entries.map((entry) => `${entry.sha256}  ${entry.path}\n`).join('');
    await this.addDocument('SHA256SUMS', 'sha256sum', 'The SHA-256 of every file above, for `sha256sum -c SHA256SUMS`.', sums);
    const final = manifest();
    this.claimPath('manifest.json');
    await this.addEntry('manifest.json', Readable.from([Buffer.from(`${JSON.stringify(final, null, 2)}\n`, 'utf8')]));
    return final;
  }

  private async addDocument(path: string, format: ManifestEntry['format'], description: string, text: string): Promise<void> {
    this.claimPath(path);
    const bytes = Buffer.from(text, 'utf8');
    await this.addEntry(path, Readable.from([bytes]));
    this.recordEntry({ path, provider: null, kind: 'about', format, description, size: bytes.length, sha256: sha256(bytes) });
  }

  /**
   * Appends one entry and waits until the archive has consumed it: the next is read only then.
   * The archive reads it through a carrier that never errors: compress-commons re-emits an entry
   * source's error where nobody listens (which would crash the process), so a failing source (or
   * any stream `upstream` of it) aborts the whole archive instead.
   */
  private async addEntry(name: string, source: Readable, upstream: Readable[] = []): Promise<void> {
    this.stop.signal.throwIfAborted();
    this.progress.currentPart = name;
    this.options.onProgress?.(this.progress);
    const carrier = new PassThrough();
    const fail = (error: unknown) => this.abort(asError(error));
    for (const stream of [...upstream, source]) stream.on('error', fail);
    this.current = [...upstream, source, carrier];
    source.pipe(carrier);
    try {
      const added = once(this.archive, 'entry', { signal: this.stop.signal });
      this.archive.append(carrier, { name, date: this.request.generatedAt });
      await added;
    } catch (error) {
      for (const stream of this.current) stream.destroy();
      throw this.stop.signal.aborted ? asError(this.stop.signal.reason) : error;
    } finally {
      this.current = [];
    }
    this.progress.parts += 1;
    this.progress.currentPart = null;
    this.options.onProgress?.(this.progress);
  }

  private recordEntry(entry: ManifestEntry): ManifestEntry {
    this.entries.push(entry);
    return entry;
  }

  private claimPath(path: string): string {
    if (this.paths.has(path)) throw new Error(`Two parts of the archive are both named ${path}`);
    this.paths.add(path);
    return path;
  }

  private async spool(): Promise<string> {
    this.spoolDirectory ??= await this.options.spool.open();
    return this.spoolDirectory;
  }
}

/** A relative path of plain segments: no `..`, `.`, empty segment, leading `/`, backslash or control character. */
export function isSafeRelativePath(path: string): boolean {
  if (path.length === 0 || path.length > MAX_PATH_LENGTH) return false;
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\\\u0000-\u001f\u007f]/.test(path)) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) reject(asError(signal.reason));
    else signal.addEventListener('abort', () => reject(asError(signal.reason)), { once: true });
  });
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(typeof value === 'string' ? value : 'aborted');
}
