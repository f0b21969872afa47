import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { CSV_BOM, csvRow } from '../../../export/formats/csv.js';

/** A record's value at a dotted path (`requestedBy.userId`), undefined when absent. */
export function valueAt(record: Record<string, unknown>, path: string): unknown {
  let value: unknown = record;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * A CSV cell for any record value: dates as ISO 8601, ObjectIds as hex, lists of plain values
 * joined by `; `, other objects as JSON text (the JSON Lines file holds them as structures).
 */
export function csvValue(value: unknown): string | number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (typeof (value as { toHexString?: unknown }).toHexString === 'function') return (value as { toHexString(): string }).toHexString();
  if (Array.isArray(value) && value.every((item) => typeof item === 'string' || typeof item === 'number')) return value.join('; ');
  return JSON.stringify(value);
}

/**
 * The CSV rendering of a records part, written to a temporary file while its JSON Lines entry
 * streams into the archive (a zip holds one entry at a time, and a provider's records can be read
 * only once), then added to the archive from there. Hashes and counts its bytes as it writes them.
 */
export class CsvSpool {
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private readonly file: WriteStream;

  constructor(
    readonly path: string,
    private readonly columns: readonly string[],
  ) {
    this.file = createWriteStream(path, { flags: 'wx' });
    // Errors surface through the next write or `finish`.
    this.file.on('error', () => undefined);
    this.push(CSV_BOM + csvRow(columns));
  }

  /** Resolves once the row can be taken (waits while the file's buffer is full). */
  async add(record: Record<string, unknown>): Promise<void> {
    if (!this.push(csvRow(this.columns.map((column) => csvValue(valueAt(record, column)))))) {
      await once(this.file, 'drain');
    }
  }

  async finish(): Promise<{ size: number; sha256: string }> {
    this.file.end();
    await once(this.file, 'finish');
    return { size: this.bytes, sha256: this.hash.digest('hex') };
  }

  discard(): void {
    this.file.destroy();
  }

  private push(text: string): boolean {
    const bytes = Buffer.from(text, 'utf8');
    this.hash.update(bytes);
    this.bytes += bytes.length;
    if (this.file.errored) throw this.file.errored;
    return this.file.write(bytes);
  }
}
