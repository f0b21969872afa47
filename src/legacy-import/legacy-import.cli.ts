import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Transform } from 'node:stream';
import { parseArgs } from 'node:util';
import { withAppContext } from '../bootstrap.js';
import { loadAppConfig } from '../common/config/app-config.js';
import { LegacyImportBusyError, LegacyImportRoleError, LegacyImportService, type LegacyImportCounts } from './legacy-import.service.js';
import { DEFAULT_LEGACY_ROLE, LegacyImportReportFile, describeCounts } from './legacy-import-report.js';

// `npm run import:legacy -- chat_backup.json [--dry-run] [--report FILE] [--role ROLE] [--dumped-at TIME]`:
// imports the legacy store's dump against MONGODB_URI or, without it, the embedded store in
// DATA_DIR (stop the app first: the store's data file is the app's while it runs; or use the
// admin route). Progress goes to stderr, the summary to stdout, every rejected or skipped record
// to the report file. Exit 0: all read and nothing rejected; 1: something was rejected, the dump
// could not be read to its end, or the import failed; 2: bad arguments or configuration.
const EXIT_REJECTED = 1;
const EXIT_USAGE = 2;
const USAGE = 'usage: npm run import:legacy -- FILE [--dry-run] [--report FILE] [--role ROLE] [--dumped-at YYYY-MM-DDTHH:MM:SSZ]';

class UsageError extends Error {}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    strict: true,
    options: {
      'dry-run': { type: 'boolean', default: false },
      report: { type: 'string' },
      role: { type: 'string', default: DEFAULT_LEGACY_ROLE },
      'dumped-at': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'the dump file is missing' : 'one dump file at a time');
  const file = resolve(positionals[0]!);
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) throw new UsageError(`${file} is not a readable file`);
  const dumpedAt = values['dumped-at'] === undefined ? info.mtime : new Date(values['dumped-at']);
  if (Number.isNaN(dumpedAt.getTime())) throw new UsageError(`--dumped-at ${values['dumped-at']} is not a date and time`);
  const dryRun = values['dry-run'];
  const reportPath = resolve(values.report ?? `legacy-import-report-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);

  const config = loadAppConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  return withAppContext(config, async (app, store) => {
    const report = await LegacyImportReportFile.open(reportPath, { file, dryRun, dumpedAt });
    try {
      const started = Date.now();
      let bytes = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          done(null, chunk);
        },
      });
      const progress = new ProgressLine(info.size, started);
      process.stderr.write(`${dryRun ? 'checking' : 'importing'} ${file} (${megabytes(info.size)}) into ${store.description}\n`);
      const result = await app.get(LegacyImportService).import(createReadStream(file).pipe(counter), {
        dryRun,
        defaultRole: values.role,
        dumpedAt,
        report: (entry) => report.add(entry),
        onProgress: (counts) => progress.show(bytes, counts),
      });
      progress.end();
      await report.close(result);
      const seconds = (Date.now() - started) / 1000;
      process.stdout.write(
        `${dryRun ? 'dry run, nothing written: ' : ''}${describeCounts(result.counts, dryRun)} in ${seconds.toFixed(1)} s` +
          `; shapes found: ${result.shapes.join(', ') || 'none'}; report: ${reportPath}\n`,
      );
      if (result.error) process.stderr.write(`the dump could not be read to its end: ${result.error}\n`);
      return result.counts.rejected > 0 || !result.complete ? EXIT_REJECTED : 0;
    } catch (error) {
      await report.close(null, error as Error).catch(() => undefined);
      if (error instanceof LegacyImportRoleError) {
        process.stderr.write(`${error.message}\n`);
        return EXIT_USAGE;
      }
      if (error instanceof LegacyImportBusyError) {
        process.stderr.write(`${error.message}\n`);
        return EXIT_REJECTED;
      }
      throw error;
    }
  });
}

/** A progress bar on a terminal; a line every few seconds otherwise (logs, CI). */
class ProgressLine {
  private readonly terminal = process.stderr.isTTY === true;
  private lastLine = 0;

  constructor(
    private readonly total: number,
    private readonly started: number,
  ) {}

  show(bytes: number, counts: Readonly<LegacyImportCounts>): void {
    const now = Date.now();
    if (!this.terminal && now - this.lastLine < 5000) return;
    this.lastLine = now;
    const share = this.total > 0 ? Math.min(1, bytes / this.total) : 1;
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const rate = Math.round((counts.imported + counts.alreadyPresent) / seconds);
    const bar = `[${'#'.repeat(Math.round(share * 20)).padEnd(20, '.')}] ${(share * 100).toFixed(0).padStart(3)}%`;
    const line =
      `${bar} ${megabytes(bytes)} of ${megabytes(this.total)} · ${counts.records.toLocaleString('en-US')} records · ` +
      `${counts.imported.toLocaleString('en-US')} imported · ${counts.alreadyPresent.toLocaleString('en-US')} present · ` +
      `${counts.skipped.toLocaleString('en-US')} skipped · ${counts.rejected.toLocaleString('en-US')} rejected · ${rate.toLocaleString('en-US')} messages/s`;
    process.stderr.write(this.terminal ? `\r${line}\u001b[K` : `${line}\n`);
  }

  end(): void {
    if (this.terminal) process.stderr.write('\n');
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`${usage ? `${(error as Error).message}\n${USAGE}` : ((error as Error).stack ?? String(error))}\n`);
    process.exit(usage ? EXIT_USAGE : EXIT_REJECTED);
  },
);
