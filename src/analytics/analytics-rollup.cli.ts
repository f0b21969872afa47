import { withAppContext } from '../bootstrap.js';
import { loadAppConfig } from '../common/config/app-config.js';
import { AnalyticsRollupJob } from './analytics-rollup.job.js';
import { AnalyticsCalendar } from './rollup/calendar.js';

// `npm run analytics:rollup -- --from 2026-11-01 --to 2026-11-30`: recomputes those days (final or
// not) and the weeks and months they fall in, against MONGODB_URI or, without it, the embedded
// store `npm start` uses, under the rollup job's lease (a running app's scheduled run waits).
// Without --to: through today; without --from: the --to day only. Exit 0: done; 1: the run failed
// or was skipped; 2: bad arguments or configuration.
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const USAGE = 'usage: npm run analytics:rollup -- --from YYYY-MM-DD [--to YYYY-MM-DD]';

async function main(argv: readonly string[]): Promise<number> {
  const options = parseArguments(argv);
  const config = loadAppConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  if (!config.chat.enableAnalytics) {
    process.stderr.write('analytics is turned off (CHAT_ENABLE_ANALYTICS=false): nothing to roll up\n');
    return EXIT_USAGE;
  }
  const calendar = new AnalyticsCalendar(config.analytics.timeZone);
  const to = options.to === undefined ? calendar.periodOf('daily', new Date()) : calendar.day(options.to);
  const from = options.from === undefined ? to : calendar.day(options.from);
  if (!from || !to || from.start > to.start) {
    process.stderr.write(`${USAGE}\n(--from must be a date on or before --to)\n`);
    return EXIT_USAGE;
  }
  return withAppContext(config, async (app, store) => {
    const started = Date.now();
    process.stdout.write(`rolling up ${from.key} to ${to.key} (${config.analytics.timeZone}) on ${store.description}\n`);
    const run = await app.get(AnalyticsRollupJob).backfill({
      from,
      to,
      onProgress: (message, counts) => {
        const seconds = (Date.now() - started) / 1000;
        const rate = counts.days > 0 ? ` · ${(counts.days / seconds).toFixed(2)} days/s` : '';
        process.stdout.write(`  ${message} · ${counts.written} written, ${counts.unchanged} unchanged, ${counts.removed} removed${rate}\n`);
      },
    });
    if (run.status !== 'succeeded') {
      process.stderr.write(`rollup ${run.status}: ${run.reason ?? run.error ?? 'no reason given'}\n`);
      return EXIT_FAILED;
    }
    process.stdout.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(run.counts)}\n`);
    return 0;
  });
}

function parseArguments(argv: readonly string[]): { from?: string; to?: string } {
  const options: { from?: string; to?: string } = {};
  for (let index = 0; index < argv.length; index += 1) {
    const name = argv[index];
    const value = argv[index + 1];
    if ((name === '--from' || name === '--to') && value !== undefined) {
      options[name === '--from' ? 'from' : 'to'] = value;
      index += 1;
    } else throw new UsageError(`unknown argument ${name}`);
  }
  return options;
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof UsageError ? `${error.message}\n${USAGE}` : ((error as Error).stack ?? String(error))}\n`);
    process.exit(error instanceof UsageError ? EXIT_USAGE : EXIT_FAILED);
  },
);
