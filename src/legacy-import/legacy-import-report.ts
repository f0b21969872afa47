import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { LegacyImportCounts, LegacyImportReportEntry, LegacyImportResult } from './legacy-import.service.js';

/** The role of legacy conversations that name none: the design's first WMS role. */
export const DEFAULT_LEGACY_ROLE = 'warehouse_operator';

/**
 * The import's report, written as it goes (a dump with a million bad records does not fill the
 * memory): one JSON object with the dump, every rejected or skipped record (`problems`, each
 * with its JSON path and reason) and, at the end, the counts.
 */
export class LegacyImportReportFile {
  private first = true;
  /** A write that failed (a full disk): every later write and the close reject with it. */
  private failure: Error | null = null;

  private constructor(private readonly out: WriteStream) {
    out.on('error', (error) => (this.failure ??= error));
  }

  static async open(path: string, about: { file: string; dryRun: boolean; dumpedAt: Date }): Promise<LegacyImportReportFile> {
    const out = createWriteStream(path, { flags: 'w' });
    await once(out, 'open');
    const report = new LegacyImportReportFile(out);
    await report.write(
      `{\n  "file": ${JSON.stringify(about.file)},\n  "dryRun": ${about.dryRun},\n  "dumpedAt": ${JSON.stringify(about.dumpedAt.toISOString())},\n` +
        `  "startedAt": ${JSON.stringify(new Date().toISOString())},\n  "problems": [`,
    );
    return report;
  }

  async add(entry: LegacyImportReportEntry): Promise<void> {
    await this.write(`${this.first ? '\n' : ',\n'}    ${JSON.stringify(entry)}`);
    this.first = false;
  }

  /** Ends the report with the result, or with the error that stopped the import. */
  async close(result: LegacyImportResult | null, failure?: Error): Promise<void> {
    const end = {
      finishedAt: new Date().toISOString(),
      complete: result?.complete ?? false,
      error: result ? result.error : (failure?.message ?? 'stopped'),
      shapes: result?.shapes ?? [],
      counts: result?.counts ?? null,
    };
    const fields = Object.entries(end)
      .map(([name, value]) => `  ${JSON.stringify(name)}: ${JSON.stringify(value)}`)
      .join(',\n');
    await this.write(`${this.first ? '' : '\n  '}],\n${fields}\n}\n`);
    await new Promise<void>((resolve, reject) => {
      this.out.end();
      this.out.once('finish', resolve).once('close', () => (this.failure ? reject(this.failure) : resolve()));
    });
  }

  private async write(text: string): Promise<void> {
    this.assertWritable();
    if (!this.out.write(text)) {
      await new Promise<void>((resolve) => {
        this.out.once('drain', resolve).once('close', resolve);
      });
    }
    this.assertWritable();
  }

  private assertWritable(): void {
    if (this.failure) throw this.failure;
  }
}

/** `120 messages imported (3 conversations created), 5 already present, ...` */
export function describeCounts(counts: Readonly<LegacyImportCounts>, dryRun: boolean): string {
  const n = (value: number) => value.toLocaleString('en-US');
  return (
    `${n(counts.imported)} messages ${dryRun ? 'to import' : 'imported'} (${n(counts.conversationsCreated)} conversations ${dryRun ? 'to create' : 'created'}), ` +
    `${n(counts.alreadyPresent)} already present, ${n(counts.skipped)} skipped, ${n(counts.rejected)} records rejected; ` +
    `${n(counts.records)} message records of ${n(counts.conversations)} conversations and ${n(counts.users)} users read`
  );
}
