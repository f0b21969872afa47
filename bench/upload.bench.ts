import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { Agent, createServer as createHttpServer, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { rssMb } from './lib/app-process.js';
import { type BenchResponse, sendJsonOk, sendMultipart } from './lib/http.js';
import { runBenchmark } from './lib/stats.js';

/**
 * npm run bench:upload — one large upload through the real server process (`node dist/src/main.js`
 * on the embedded store), streamed from disk as multipart/form-data. Reports throughput against
 * a plain `cat` of the same bytes to a file on the same disk (the baseline, measured in the same
 * run), against a bare Node HTTP server writing the raw body to disk (the transport's ceiling),
 * and the server process's peak RSS growth during the upload, sampled from /proc.
 * BENCH_UPLOAD_MB (200) sets the size; BENCH_STORAGE (local | gridfs) the storage driver.
 */
const SIZE_MB = Number(process.env.BENCH_UPLOAD_MB ?? 200);
const STORAGE = process.env.BENCH_STORAGE ?? 'local';
const RSS_BUDGET_MB = 64;
const SECRET = 'bench-secret-bench-secret-bench-secret';
const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A PCM WAV file of about `mb` megabytes (audio is processed from its header only, so the upload path is what is measured). */
async function writeWav(path: string, mb: number): Promise<number> {
  const dataBytes = mb * 1024 * 1024;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(2, 22);
  header.writeUInt32LE(44100, 24);
  header.writeUInt32LE(44100 * 4, 28);
  header.writeUInt16LE(4, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(dataBytes, 40);
  const out = createWriteStream(path);
  out.write(header);
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i += 1) chunk[i] = (i * 7919) & 0xff;
  for (let written = 0; written < dataBytes; written += chunk.length) {
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return (await stat(path)).size;
}

async function timeCat(source: string, target: string): Promise<number> {
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const cat = spawn('sh', ['-c', 'cat "$0" > "$1" && sync "$1"', source, target], { stdio: 'inherit' });
    cat.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`cat exited with ${code}`))));
  });
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** A bare Node HTTP server that writes the raw request body to a file: the transport's own ceiling. */
async function timeBareHttp(source: string, target: string, size: number): Promise<number> {
  const server = createHttpServer((req, res) => {
    req.pipe(createWriteStream(target)).on('finish', () => res.writeHead(201).end('{}'));
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  const started = process.hrtime.bigint();
  const response = await uploadFile(port, 'none', '000000000000000000000000', source, size);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  await new Promise((resolve) => server.close(resolve));
  if (response.status !== 201) throw new Error(`bare server answered ${response.status}`);
  return elapsed;
}

async function startServer(work: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean), MAIN], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      JWT_SECRET: SECRET,
      LOG_LEVEL: 'warn',
      DATA_DIR: join(work, 'data'),
      ATTACHMENT_STORAGE: STORAGE,
      CHAT_MAX_FILE_SIZE_MB: String(SIZE_MB + 10),
      CHAT_USER_STORAGE_QUOTA_MB: String(SIZE_MB * 4),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const ready = await fetch(`http://127.0.0.1:${port}/api/v1/health/ready`);
      if (ready.ok) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('server did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function uploadFile(port: number, token: string, messageId: string, path: string, size: number): Promise<BenchResponse> {
  return sendMultipart(port, `/api/v1/chat/messages/${messageId}/attachments`, token, [
    { name: 'dock-recording.wav', contentType: 'audio/wav', source: { path, size } },
  ]);
}

/** Streams a GET to nowhere; resolves with the byte count. */
function download(port: number, token: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(bytes) : reject(new Error(`download answered ${res.statusCode}`))));
    })
      .on('error', reject)
      .end();
  });
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'wms-bench-upload-'));
  const source = join(work, 'upload.wav');
  let server: ChildProcess | undefined;
  try {
    const size = await writeWav(source, SIZE_MB);
    process.stdout.write(`bench:upload — ${(size / 1024 / 1024).toFixed(0)} MB WAV, storage ${STORAGE}` + '\n');

    const catMs = await timeCat(source, join(work, 'cat-copy.wav'));
    await rm(join(work, 'cat-copy.wav'));
    const bareMs = await timeBareHttp(source, join(work, 'bare-copy.bin'), size);
    await rm(join(work, 'bare-copy.bin'));

    const port = await freePort();
    server = await startServer(work, port);
    const token = jwt.sign({ sub: 'bench-uploader', roles: ['warehouse_operator'] }, SECRET, { algorithm: 'HS256', expiresIn: '1h' });
    const agent = new Agent({ keepAlive: true });
    const conversation = JSON.parse(await sendJsonOk(agent, port, 'POST', '/api/v1/chat/conversations', token, {})) as { id: string };
    const turn = JSON.parse(
      await sendJsonOk(agent, port, 'POST', `/api/v1/chat/conversations/${conversation.id}/messages`, token, {
        content: 'Recording of the dock 4 incident',
        reply: false,
      }),
    ) as { userMessage: { id: string } };

    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const baselineRss = await rssMb(server.pid!);
    let peakRss = baselineRss;
    const sampler = setInterval(() => {
      void rssMb(server!.pid!).then((rss) => (peakRss = Math.max(peakRss, rss)));
    }, 25);

    const started = process.hrtime.bigint();
    const response = await uploadFile(port, token, turn.userMessage.id, source, size);
    const uploadMs = Number(process.hrtime.bigint() - started) / 1e6;
    clearInterval(sampler);
    peakRss = Math.max(peakRss, await rssMb(server.pid!));
    if (response.status !== 201) throw new Error(`upload answered ${response.status}: ${response.body.slice(0, 300)}`);

    const attachmentId = (JSON.parse(response.body) as { items: { id: string }[] }).items[0]!.id;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const beforeDownload = await rssMb(server.pid!);
    let downloadPeak = beforeDownload;
    const downloadSampler = setInterval(() => {
      void rssMb(server!.pid!).then((rss) => (downloadPeak = Math.max(downloadPeak, rss)));
    }, 25);
    const downloadStarted = process.hrtime.bigint();
    const downloaded = await download(port, token, `/api/v1/chat/attachments/${attachmentId}/content`);
    const downloadMs = Number(process.hrtime.bigint() - downloadStarted) / 1e6;
    clearInterval(downloadSampler);
    if (downloaded !== size) throw new Error(`downloaded ${downloaded} bytes of ${size}`);

    const mbs = (ms: number) => (size / 1024 / 1024 / (ms / 1000)).toFixed(0);
    const growth = peakRss - baselineRss;
    process.stdout.write(`  cat to disk (baseline)   ${catMs.toFixed(0).padStart(6)} ms   ${mbs(catMs).padStart(5)} MB/s` + '\n');
    process.stdout.write(`  bare HTTP body to disk    ${bareMs.toFixed(0).padStart(6)} ms   ${mbs(bareMs).padStart(5)} MB/s` + '\n');
    process.stdout.write(
      `  API upload (${STORAGE.padEnd(6)})     ${uploadMs.toFixed(0).padStart(6)} ms   ${mbs(uploadMs).padStart(5)} MB/s` + '\n',
    );
    process.stdout.write(
      `  API download             ${downloadMs.toFixed(0).padStart(6)} ms   ${mbs(downloadMs).padStart(5)} MB/s, ` +
        `server RSS growth ${(downloadPeak - beforeDownload).toFixed(1)} MB\n`,
    );
    process.stdout.write(`  ratio upload / cat        ${(uploadMs / catMs).toFixed(2)}x` + '\n');
    process.stdout.write(`  ratio upload / bare HTTP  ${(uploadMs / bareMs).toFixed(2)}x` + '\n');
    process.stdout.write(
      `  server RSS: ${baselineRss.toFixed(0)} MB before, peak ${peakRss.toFixed(0)} MB, growth ${growth.toFixed(1)} MB ` +
        `(budget ${RSS_BUDGET_MB} MB: ${growth < RSS_BUDGET_MB ? 'met' : 'NOT met'})\n`,
    );
  } finally {
    server?.kill('SIGTERM');
    if (server) await new Promise((resolve) => server!.once('exit', resolve));
    await rm(work, { recursive: true, force: true });
  }
}

runBenchmark(main);
