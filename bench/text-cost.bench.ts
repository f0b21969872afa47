import { countTokens as countO200kWhole } from 'gpt-tokenizer/encoding/o200k_base';
import jwt from 'jsonwebtoken';
import { indexTermsOf } from '../src/common/text/search-terms.js';
import { countTokens } from '../src/common/text/tokenizer.js';
import { parseSearchQuery } from '../src/search/search-query.js';
import { buildSnippet } from '../src/search/snippets.js';
import { BENCH_SECRET, startBenchApp } from './lib/bench-app.js';
import { runBenchmark, seededRandom } from './lib/stats.js';

/**
 * npm run bench:text — what one message's text costs as its length grows, for shapes a client can
 * send: one unbroken word, emoji, CJK, mixed scripts without spaces, and ordinary prose. For each
 * shape, at 1k, 8k and 32k characters (code points), the median of several runs of:
 *  - search terms (`indexTermsOf`, stored with every message);
 *  - token count (`countTokens`, stored with every message);
 *  - a snippet around a match (`buildSnippet`, search results);
 *  - the whole POST /conversations/:id/messages over HTTP (reply: false: validation, both of the
 *    above, the insert and the answer);
 *  - the encoder on the whole text at once, as the app called it before (baseline, optional).
 * Each run gets a fresh text, so nothing is served from the encoder's cache. The ratio per
 * doubling of length should be about 2 (linear); 4 is quadratic. Then the token count again after
 * the process has counted a large document (what an upload's extracted text does to the encoder's
 * cache). Tunables: BENCH_TEXT_RUNS (5), BENCH_TEXT_BASELINE (1; 0 skips the slow baseline).
 */
const RUNS = Number(process.env.BENCH_TEXT_RUNS ?? 5);
const BASELINE = process.env.BENCH_TEXT_BASELINE !== '0';
const LENGTHS = [1000, 8000, 32_000] as const;

const random = seededRandom(11);
const pick = (from: number, to: number) => from + Math.floor(random() * (to - from + 1));
const latin = () => String.fromCharCode(pick(0x61, 0x7a));

const WORDS = ['pallet', 'picking', 'short', 'dock', 'barcode', 'zone', 'tote', 'inventory', 'label', 'the', 'and', 'shift'];
const SHAPES: { name: string; char: () => string }[] = [
  { name: 'one word', char: latin },
  { name: 'emoji', char: () => String.fromCodePoint(pick(0x1f600, 0x1f64f)) },
  { name: 'CJK', char: () => String.fromCodePoint(pick(0x4e00, 0x9fff)) },
  {
    name: 'mixed scripts',
    char: () =>
      [
        latin,
        () => String.fromCharCode(pick(0x430, 0x44f)),
        () => String.fromCharCode(pick(0x627, 0x64a)),
        () => String.fromCodePoint(pick(0x4e00, 0x9fff)),
        () => String.fromCodePoint(pick(0x1f600, 0x1f64f)),
        () => String(pick(0, 9)),
      ][pick(0, 5)]!(),
  },
  { name: 'prose', char: () => '' },
];

/** A text of exactly `length` code points of the shape. */
function makeText(shape: (typeof SHAPES)[number], length: number): string {
  const parts: string[] = [];
  let count = 0;
  if (shape.name === 'prose') {
    while (count < length) {
      const word = `${WORDS[pick(0, WORDS.length - 1)]!}${pick(0, 3) === 0 ? String(pick(1, 999)) : ''} `;
      parts.push(word);
      count += word.length;
    }
    return parts.join('').slice(0, length - 1) + '.';
  }
  for (; count < length; count += 1) parts.push(shape.char());
  return parts.join('');
}

function timeOnce(work: () => unknown): number {
  const start = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function timeOnceAsync(work: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** (t2 / t1) per doubling of length between n1 and n2. */
function perDoubling(t1: number, t2: number, n1: number, n2: number): number {
  return Math.pow(t2 / Math.max(t1, 1e-3), 1 / Math.log2(n2 / n1));
}

const format = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0)).padStart(8);

interface Row {
  shape: string;
  what: string;
  ms: number[];
}

function printRows(title: string, rows: Row[]): void {
  process.stdout.write(`\n${title}\n`);
  process.stdout.write(
    `${'shape'.padEnd(14)}${'measure'.padEnd(26)}${LENGTHS.map((n) => `${n / 1000}k ms`.padStart(9)).join('')}   per doubling 1k→8k, 8k→32k\n`,
  );
  for (const row of rows) {
    const [a, b, c] = row.ms as [number, number, number];
    process.stdout.write(
      `${row.shape.padEnd(14)}${row.what.padEnd(26)}${row.ms.map((ms) => ` ${format(ms)}`).join('')}   ${perDoubling(a, b, LENGTHS[0], LENGTHS[1]).toFixed(2)}x, ${perDoubling(b, c, LENGTHS[1], LENGTHS[2]).toFixed(2)}x\n`,
    );
  }
}

async function main(): Promise<void> {
  const bench = await startBenchApp('wms_chat_bench_text', { CHAT_RATE_LIMIT_PER_MINUTE: '100000' });
  const base = `http://127.0.0.1:${bench.port}/api/v1`;
  const token = jwt.sign({ sub: 'bench-text', roles: ['warehouse_operator'] }, BENCH_SECRET, { algorithm: 'HS256', expiresIn: '1h' });
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const text = await response.text();
    if (response.status >= 300) throw new Error(`POST ${path}: ${response.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const query = parseSearchQuery('pallet');
  process.stdout.write(`runs per figure: ${RUNS} (median), fresh text each run\n`);

  try {
    const conversationId = (await post('/chat/conversations', {})).id as string;
    // Warm-up: the first calls load the encoder's tables and compile the code paths.
    for (const shape of SHAPES) {
      const text = makeText(shape, 2000);
      indexTermsOf(text);
      countTokens(text);
      await post(`/chat/conversations/${conversationId}/messages`, { content: text, reply: false });
    }

    const rows: Row[] = [];
    const baseline: Row[] = [];
    for (const shape of SHAPES) {
      const measures: Record<string, number[]> = { 'search terms': [], 'token count': [], snippet: [], 'POST over HTTP': [] };
      for (const length of LENGTHS) {
        const samples: Record<string, number[]> = { 'search terms': [], 'token count': [], snippet: [], 'POST over HTTP': [] };
        for (let run = 0; run < RUNS; run += 1) {
          const text = makeText(shape, length);
          samples['search terms']!.push(timeOnce(() => indexTermsOf(text)));
          samples['token count']!.push(timeOnce(() => countTokens(text)));
          samples.snippet!.push(timeOnce(() => buildSnippet(text, query)));
          const content = makeText(shape, length);
          samples['POST over HTTP']!.push(
            await timeOnceAsync(() => post(`/chat/conversations/${conversationId}/messages`, { content, reply: false })),
          );
        }
        for (const [what, values] of Object.entries(samples)) measures[what]!.push(median(values));
      }
      for (const [what, ms] of Object.entries(measures)) rows.push({ shape: shape.name, what, ms });
      process.stdout.write(`measured: ${shape.name}\n`);
    }
    // After the HTTP part: seconds without a request would let the server close the idle connection.
    for (const shape of BASELINE ? SHAPES : []) {
      const ms = LENGTHS.map((length) =>
        median(Array.from({ length: length >= 32_000 ? 1 : RUNS }, () => timeOnce(() => countO200kWhole(makeText(shape, length))))),
      );
      baseline.push({ shape: shape.name, what: 'encoder on whole text', ms });
      process.stdout.write(`measured the baseline: ${shape.name}\n`);
    }
    printRows('The app’s functions and the whole POST (median ms)', rows);
    if (BASELINE) printRows('Baseline: the encoder on the whole text in one call, as before the fix (median ms; 1 run at 32k)', baseline);

    // A large document through the encoder, as the attachments context does with extracted text.
    const documentWords: string[] = [];
    for (let i = 0; i < 200_000; i += 1) documentWords.push(Array.from({ length: pick(3, 10) }, latin).join(''));
    const documentMs = timeOnce(() => countTokens(documentWords.join(' ')));
    const after: Row[] = [];
    for (const shape of SHAPES) {
      const ms = LENGTHS.map((length) =>
        median(
          Array.from({ length: RUNS }, () => {
            const text = makeText(shape, length);
            return timeOnce(() => countTokens(text));
          }),
        ),
      );
      after.push({ shape: shape.name, what: 'token count', ms });
    }
    printRows(`After counting a 200,000-word document (${documentMs.toFixed(0)} ms): token count (median ms)`, after);
  } finally {
    await bench.close();
  }
}

runBenchmark(main);
