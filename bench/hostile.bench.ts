import { Agent } from 'node:http';
import jwt from 'jsonwebtoken';
import * as fixtures from '../test/support/fixtures.js';
import { BENCH_SECRET, startBenchApp } from './lib/bench-app.js';
import { sendJsonOk, sendMultipart } from './lib/http.js';
import { formatRow, runBenchmark, summarize } from './lib/stats.js';

/**
 * npm run bench:hostile — how responsive the API stays while hostile files are parsed. In one
 * run: GET /api/v1/health latency with nothing to process (the baseline), then while zip bombs
 * (DOCX and XLSX unpacking to 512 MiB, one with honest and one with lying sizes) and a 30000×30000
 * pixel PNG are processed by the parser sandbox, until every one of them has failed with its reason.
 * Tunables: BENCH_HEALTH_INTERVAL_MS (20), BENCH_BASELINE_MS (5000), BENCH_ROUNDS (2).
 */
const INTERVAL_MS = intEnv('BENCH_HEALTH_INTERVAL_MS', 20);
const BASELINE_MS = intEnv('BENCH_BASELINE_MS', 5000);
const ROUNDS = intEnv('BENCH_ROUNDS', 2);
const USER = 'bench-mallory';

function intEnv(name: string, fallback: number): number {
  const value = process.env[name];
  return value ? Number.parseInt(value, 10) : fallback;
}

/** Polls /health every INTERVAL_MS until stopped; answers every latency (ms). */
function watchHealth(port: number): { stop(): Promise<number[]> } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = process.hrtime.bigint();
      await sendJsonOk(agent, port, 'GET', '/api/v1/health', '');
      latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
      await new Promise((wake) => setTimeout(wake, INTERVAL_MS));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      agent.destroy();
      return latencies;
    },
  };
}

async function upload(port: number, token: string, messageId: string, files: Array<[Buffer, string]>): Promise<string> {
  const parts = files.map(([source, name]) => ({ name, contentType: 'application/octet-stream', source }));
  const response = await sendMultipart(port, `/api/v1/chat/messages/${messageId}/attachments`, token, parts);
  if (response.status !== 201) throw new Error(`upload: ${response.status} ${response.body.slice(0, 300)}`);
  return response.body;
}

async function main(): Promise<void> {
  const { port, close } = await startBenchApp('wms_chat_bench_hostile', { CHAT_MAX_FILE_SIZE_MB: '10' });
  const agent = new Agent({ keepAlive: true });
  const token = jwt.sign({ sub: USER, roles: ['warehouse_operator'] }, BENCH_SECRET, { expiresIn: '1h' });
  try {
    const files: Array<[Buffer, string]> = [
      [await fixtures.zipBomb('docx'), 'report.docx'],
      [await fixtures.zipBomb('xlsx', 512 * 1024 * 1024, { lie: true }), 'stock.xlsx'],
      [await fixtures.pngPixelBomb(30_000, 30_000), 'shelf.png'],
    ];
    process.stdout.write(`hostile files: ${files.map(([bytes, name]) => `${name} ${(bytes.length / 1024).toFixed(0)} KiB`).join(', ')}\n`);
    const baseline: number[] = [];
    const underAttack: number[] = [];
    const processing: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const idle = watchHealth(port);
      await new Promise((wake) => setTimeout(wake, BASELINE_MS));
      baseline.push(...(await idle.stop()));

      const conversation = JSON.parse(await sendJsonOk(agent, port, 'POST', '/api/v1/chat/conversations', token, {})) as { id: string };
      const sent = JSON.parse(
        await sendJsonOk(agent, port, 'POST', `/api/v1/chat/conversations/${conversation.id}/messages`, token, {
          content: 'see the attached files',
          reply: false,
        }),
      ) as { userMessage: { id: string } };
      const attacked = watchHealth(port);
      const started = Date.now();
      const items = (JSON.parse(await upload(port, token, sent.userMessage.id, files)) as { items: Array<{ id: string }> }).items;
      const outcomes: string[] = [];
      for (const item of items) {
        for (;;) {
          const record = JSON.parse(await sendJsonOk(agent, port, 'GET', `/api/v1/chat/attachments/${item.id}`, token)) as {
            processingStatus: string;
            processingError?: { code: string };
          };
          if (record.processingStatus !== 'pending') {
            outcomes.push(`${record.processingStatus} ${record.processingError?.code ?? ''}`.trim());
            break;
          }
          await new Promise((wake) => setTimeout(wake, 250));
        }
      }
      processing.push(Date.now() - started);
      underAttack.push(...(await attacked.stop()));
      process.stdout.write(`round ${round + 1}: ${outcomes.join(', ')} after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    }

    const idle = summarize(baseline);
    const attack = summarize(underAttack);
    process.stdout.write(`\nGET /api/v1/health every ${INTERVAL_MS} ms, ${ROUNDS} rounds\n`);
    process.stdout.write(`${formatRow('idle (baseline)', idle)}\n`);
    process.stdout.write(`${formatRow('while bombs are parsed', attack)}\n`);
    process.stdout.write(
      `ratio: p50 ${(attack.p50 / idle.p50).toFixed(2)}x  p99 ${(attack.p99 / idle.p99).toFixed(2)}x  max ${Math.max(...underAttack).toFixed(1)} ms` +
        ` (idle max ${Math.max(...baseline).toFixed(1)} ms); processing took ${processing.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s\n`,
    );
  } finally {
    agent.destroy();
    await close();
  }
}

runBenchmark(main);
