import AdmZip from 'adm-zip';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { OcrEngine, extract } from '../../src/attachments/processing/extractors.js';
import {
  ParserDidNotStart,
  ParserJob,
  ParserKilled,
  ParserSandbox,
  ParserStopped,
} from '../../src/attachments/processing/parser-sandbox.js';
import { ProcessingFailure } from '../../src/attachments/processing/processing-failure.js';
import { readZipDirectory, repackStored, unpackZip } from '../../src/attachments/processing/zip-reader.js';
import { sniffFileType } from '../../src/attachments/upload/file-policy.js';
import * as fixtures from '../support/fixtures.js';

const MB = 1024 * 1024;
const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

function job(mimeType: string, fileSize: number, overrides: Partial<ParserJob> = {}): ParserJob {
  return {
    mimeType,
    fileSize,
    maxChars: 10_000,
    maxBytes: 50 * MB,
    maxPixels: 50_000_000,
    tesseractBinary: 'no-such-tesseract-binary',
    timeoutMs: 20_000,
    ...overrides,
  };
}

const bytesOf = (bytes: Buffer) => Readable.from([bytes], { objectMode: false });

/** The failure a promise rejects with, for assertions on its code and message. */
async function failure(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

// The zip reader every zip-based format goes through: sizes are checked before and while inflating.
describe('zip reader', () => {
  it('refuses an archive whose directory declares more than the budget, without inflating anything', async () => {
    const bomb = await fixtures.zipBomb('docx', 64 * MB);
    expect(bomb.length).toBeLessThan(200 * 1024);
    const error = await failure(Promise.resolve().then(() => readZipDirectory(bomb, { maxBytes: 8 * MB })));
    expect(error).toBeInstanceOf(ProcessingFailure);
    expect(error.code).toBe('DECOMPRESSION_LIMIT');
    expect(error.message).toContain('declares more than 8 MB');
  });

  it('stops inflating an entry that lies about its size as soon as the budget is passed', async () => {
    const lying = await fixtures.zipBomb('docx', 64 * MB, { lie: true });
    expect(() => readZipDirectory(lying, { maxBytes: 8 * MB })).not.toThrow();
    const before = process.memoryUsage().arrayBuffers;
    const error = await failure(unpackZip(lying, { maxBytes: 8 * MB }, true));
    expect(error.code).toBe('DECOMPRESSION_LIMIT');
    expect(error.message).toContain('unpacks to more than 8 MB');
    // Nothing near the 64 MB it would have unpacked to was held.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * MB);
  });

  it('counts entries that share their data (overlapping entries) one by one', async () => {
    const part = await fixtures.spacesThen(3 * MB, '<x/>');
    const overlapping = fixtures.zipArchive([
      { name: 'a.xml', data: part },
      { name: 'b.xml', data: part },
      { name: 'c.xml', data: part },
    ]);
    await expect(unpackZip(overlapping, { maxBytes: 8 * MB }, false)).rejects.toMatchObject({ code: 'DECOMPRESSION_LIMIT' });
    await expect(unpackZip(overlapping, { maxBytes: 10 * MB }, false)).resolves.toMatchObject({ totalBytes: 3 * (3 * MB + 4) });
  });

  it('repacks an archive stored, readable by another zip library, byte for byte', async () => {
    const original = fixtures.docx(['Receiving procedure', 'Scan every pallet label']);
    const { entries } = await unpackZip(original, { maxBytes: MB }, true);
    const repacked = new AdmZip(repackStored(entries));
    const source = new AdmZip(original);
    expect(repacked.getEntries().map((entry) => entry.entryName)).toEqual(source.getEntries().map((entry) => entry.entryName));
    for (const entry of source.getEntries()) {
      expect(repacked.getEntry(entry.entryName)!.header.method).toBe(0);
      expect(repacked.readFile(entry.entryName)).toEqual(entry.getData());
    }
  });

  it('fails damaged, encrypted and oddly compressed archives as such', async () => {
    const good = fixtures.zipArchive([{ name: 'a.txt', data: 'hello hello hello' }]);
    const flipped = Buffer.from(good);
    flipped[40] = flipped[40]! ^ 0xff; // inside the deflate data
    await expect(unpackZip(flipped, { maxBytes: MB }, true)).rejects.toMatchObject({ code: 'CORRUPT_FILE' });
    await expect(unpackZip(good.subarray(0, good.length - 30), { maxBytes: MB }, true)).rejects.toMatchObject({ code: 'CORRUPT_FILE' });
    const encrypted = Buffer.from(good);
    encrypted.writeUInt16LE(1, encrypted.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 8);
    await expect(unpackZip(encrypted, { maxBytes: MB }, true)).rejects.toMatchObject({ code: 'UNSUPPORTED_CONTENT' });
    const bzip = Buffer.from(good);
    bzip.writeUInt16LE(12, bzip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 10);
    await expect(unpackZip(bzip, { maxBytes: MB }, true)).rejects.toMatchObject({ code: 'UNSUPPORTED_CONTENT' });
  });
});

// Each zip-based format's bomb, and the image one, through the extractors (what the sandbox runs).
describe('bombs through the extractors', () => {
  const limits = { maxChars: 10_000, maxBytes: 50 * MB, tesseract: new OcrEngine('no-such-tesseract-binary') };
  const run = async (name: string, bytes: Buffer) => {
    const type = await sniffFileType(bytes.subarray(0, 64 * 1024), name);
    return extract({ mimeType: type.mimeType, fileSize: bytes.length, open: () => Promise.resolve(bytesOf(bytes)) }, limits);
  };

  it.each([
    ['docx', false],
    ['docx', true],
    ['xlsx', false],
    ['xlsx', true],
  ] as const)('fails a %s zip bomb (sizes lie: %s) with DECOMPRESSION_LIMIT', async (format, lie) => {
    const bomb = await fixtures.zipBomb(format, 512 * MB, { lie });
    const error = await failure(run(`bomb.${format}`, bomb));
    expect(error).toBeInstanceOf(ProcessingFailure);
    expect(error.code).toBe('DECOMPRESSION_LIMIT');
    expect(error.message).toContain(lie ? 'unpacks to more than 50 MB' : 'declares more than 50 MB');
  });

  it('fails a PNG that declares 900 megapixels with IMAGE_TOO_LARGE before decoding it', async () => {
    const bomb = await fixtures.pngPixelBomb();
    expect(bomb.length).toBeLessThan(256 * 1024);
    const started = Date.now();
    const error = await failure(run('bomb.png', bomb));
    expect(error.code).toBe('IMAGE_TOO_LARGE');
    expect(error.message).toContain('30000×30000 pixels (900 megapixels)');
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('parser sandbox', () => {
  let directory: string;
  /** A child that behaves as the real one until it has started, then does `body`. */
  async function script(name: string, body: string): Promise<string> {
    const path = join(directory, `${name}.mjs`);
    await writeFile(path, `process.send({ type: 'started' });\n${body}\n`);
    return path;
  }

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wms-sandbox-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('parses a document in a child process and hands the result back', async () => {
    const sandbox = new ParserSandbox({ memoryMb: 256, timeoutMs: 20_000 });
    const bytes = fixtures.docx(['Receiving procedure', 'Scan every pallet label']);
    const result = await sandbox.run(job(DOCX, bytes.length), bytesOf(bytes));
    expect(result.extractedText).toBe('Receiving procedure\n\nScan every pallet label');
    const image = await fixtures.jpegWithLocation(640, 480);
    const processed = await sandbox.run(job('image/jpeg', image.length), bytesOf(image));
    expect(Buffer.isBuffer(processed.thumbnail?.bytes)).toBe(true);
    expect(Buffer.isBuffer(processed.replacement)).toBe(true);
    expect(processed.metadata).toMatchObject({ width: 640, height: 480, metadataStripped: true });
  });

  it('answers a zip bomb with DECOMPRESSION_LIMIT, the parser’s own reason', async () => {
    const sandbox = new ParserSandbox({ memoryMb: 256, timeoutMs: 20_000 });
    const bomb = await fixtures.zipBomb('docx');
    const error = await failure(sandbox.run(job(DOCX, bomb.length), bytesOf(bomb)));
    expect(error).toBeInstanceOf(ProcessingFailure);
    expect(error.code).toBe('DECOMPRESSION_LIMIT');
  });

  it('kills a parser that exhausts its heap and says so', async () => {
    const kills: string[] = [];
    const sandbox = new ParserSandbox(
      { memoryMb: 128, timeoutMs: 20_000 },
      {
        script: await script('heap', 'const keep = []; for (;;) keep.push(new Array(100_000).fill(Math.random()));'),
        onKill: (code) => kills.push(code),
      },
    );
    const error = await failure(sandbox.run(job(DOCX, 1), bytesOf(Buffer.from('x'))));
    expect(error).toBeInstanceOf(ParserKilled);
    expect(error.code).toBe('PARSER_MEMORY_LIMIT');
    expect(error.message).toContain('more than 128 MB of memory');
    expect(kills).toEqual(['PARSER_MEMORY_LIMIT']);
  });

  it('kills a parser whose buffers (outside the JavaScript heap) pass the memory limit', async () => {
    const sandbox = new ParserSandbox(
      { memoryMb: 160, timeoutMs: 20_000 },
      { script: await script('buffers', 'const keep = []; setInterval(() => keep.push(Buffer.alloc(8 * 1024 * 1024, 1)), 5);') },
    );
    const started = Date.now();
    const error = await failure(sandbox.run(job(DOCX, 1), bytesOf(Buffer.from('x'))));
    expect(error.code).toBe('PARSER_MEMORY_LIMIT');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('kills a parser stuck in a loop at its deadline', async () => {
    const sandbox = new ParserSandbox({ memoryMb: 128, timeoutMs: 500 }, { script: await script('spin', 'for (;;) {}') });
    const started = Date.now();
    const error = await failure(sandbox.run(job(DOCX, 1), bytesOf(Buffer.from('x'))));
    expect(error.code).toBe('PARSER_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('does not count a parser that never started against the file: it answers ParserDidNotStart, not a crash', async () => {
    const path = join(directory, 'slow-start.mjs');
    await writeFile(path, 'setTimeout(() => {}, 60_000);\n');
    const sandbox = new ParserSandbox({ memoryMb: 128, timeoutMs: 5_000 }, { script: path, startupTimeoutMs: 300 });
    const error = await sandbox.run(job(DOCX, 1), bytesOf(Buffer.from('x'))).then(
      () => null,
      (rejection: unknown) => rejection,
    );
    expect(error).toBeInstanceOf(ParserDidNotStart);
    expect(error).not.toBeInstanceOf(ParserKilled);
  });

  it('does not let a parser buy more time by announcing its start again', async () => {
    const sandbox = new ParserSandbox(
      { memoryMb: 128, timeoutMs: 500 },
      { script: await script('stall', "setInterval(() => process.send({ type: 'started' }), 100);") },
    );
    const started = Date.now();
    const error = await failure(sandbox.run(job(DOCX, 1), bytesOf(Buffer.from('x'))));
    expect(error.code).toBe('PARSER_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('does not trust the shape of what a parser sends back', async () => {
    const sandbox = new ParserSandbox(
      { memoryMb: 128, timeoutMs: 20_000 },
      {
        script: await script(
          'forged',
          "process.send({ type: 'done', extraction: { extractedText: 'x', metadata: { $where: 'sleep(1000)' } } }, () => process.exit(0));",
        ),
      },
    );
    const error = await failure(sandbox.run(job(DOCX, 1), bytesOf(Buffer.from('x'))));
    expect(error).toBeInstanceOf(ParserKilled);
    expect(error.code).toBe('PARSER_CRASHED');
  });

  it('reports a parser that dies (native abort) as crashed', async () => {
    const sandbox = new ParserSandbox({ memoryMb: 128, timeoutMs: 20_000 }, { script: await script('abort', 'process.abort();') });
    const error = await failure(sandbox.run(job(DOCX, 1), bytesOf(Buffer.from('x'))));
    expect(error).toBeInstanceOf(ParserKilled);
    expect(error.code).toBe('PARSER_CRASHED');
  });

  it('takes the answer a parser sends just before it exits, however large', async () => {
    const sandbox = new ParserSandbox(
      { memoryMb: 128, timeoutMs: 20_000 },
      {
        script: await script(
          'large-answer',
          "process.send({ type: 'done', extraction: { extractedText: 'x'.repeat(4 * 1024 * 1024), metadata: {} } }, () => process.exit(0));",
        ),
      },
    );
    const results = await Promise.all([1, 2, 3].map(() => sandbox.run(job(DOCX, 1), bytesOf(Buffer.from('x')))));
    for (const result of results) expect(result.extractedText).toHaveLength(4 * 1024 * 1024);
  });

  it('reports a parser that died as crashed without waiting for a process it left holding its pipes', async () => {
    const sandbox = new ParserSandbox(
      { memoryMb: 128, timeoutMs: 20_000 },
      {
        script: await script(
          'orphan',
          "const { spawn } = await import('node:child_process'); spawn('sleep', ['10'], { stdio: ['ignore', 'ignore', 'inherit'] }).unref(); process.exit(3);",
        ),
      },
    );
    const started = Date.now();
    const error = await failure(sandbox.run(job(DOCX, 1), bytesOf(Buffer.from('x'))));
    expect(error).toBeInstanceOf(ParserKilled);
    expect(error.code).toBe('PARSER_CRASHED');
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it('gives the parser none of the app’s environment', async () => {
    process.env.SANDBOX_TEST_SECRET = 'do-not-leak';
    try {
      const sandbox = new ParserSandbox(
        { memoryMb: 128, timeoutMs: 20_000 },
        {
          script: await script(
            'env',
            "process.send({ type: 'done', extraction: { extractedText: JSON.stringify(Object.keys(process.env)), metadata: { execArgv: process.execArgv } } }, () => process.exit(0));",
          ),
        },
      );
      const result = await sandbox.run(job(DOCX, 1), bytesOf(Buffer.from('x')));
      const names = JSON.parse(result.extractedText!) as string[];
      expect(names).not.toContain('SANDBOX_TEST_SECRET');
      expect(names).not.toContain('NODE_OPTIONS');
      expect(result.metadata.execArgv).toContain('--max-old-space-size=128');
    } finally {
      delete process.env.SANDBOX_TEST_SECRET;
    }
  });

  it('stops running parsers on shutdown and refuses new runs', async () => {
    const sandbox = new ParserSandbox(
      { memoryMb: 128, timeoutMs: 20_000 },
      { script: await script('slow', 'setInterval(() => {}, 1000);') },
    );
    const running = failure(sandbox.run(job(DOCX, 1), bytesOf(Buffer.from('x'))));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sandbox.size).toBe(1);
    sandbox.stop();
    expect(await running).toBeInstanceOf(ParserStopped);
    expect(sandbox.size).toBe(0);
    await expect(sandbox.run(job(DOCX, 1), bytesOf(Buffer.from('x')))).rejects.toBeInstanceOf(ParserStopped);
  });
});
