/**
 * The parser sandbox's child process (see parser-sandbox.ts): parses the one file it is given on
 * stdin, as described by the job in its first argument, sends one answer over IPC and exits. It
 * holds nothing of the app: no configuration, no database, no secrets.
 */
import { OcrEngine, ProcessingFailure, abandonExtraction, extract } from './extractors.js';
import type { ParserJob, ParserMessage } from './parser-sandbox.js';

const OCR_MARGIN_MS = 2_000;

function send(message: ParserMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

function stop(code: number): void {
  abandonExtraction();
  process.exit(code);
}

// Asked to stop (deadline, shutdown), or the app went away: take Tesseract and its copy of the image along.
process.on('SIGTERM', () => stop(143));
process.on('disconnect', () => stop(0));

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as ParserJob;
  if (job.mimeType.startsWith('image/')) {
    // One image per process: libvips' operation cache would only hold memory.
    (await import('sharp')).default.cache(false);
  }
  let opened = false;
  await send({ type: 'started' });
  // OCR stops in time for the sandbox's deadline (with a margin to answer), so a slow OCR does not cost the whole file.
  const ocrDeadline = Date.now() + job.timeoutMs - OCR_MARGIN_MS;
  let answer: ParserMessage;
  try {
    const extraction = await extract(
      {
        mimeType: job.mimeType,
        fileSize: job.fileSize,
        open: () => {
          if (opened) return Promise.reject(new Error('The file can be read once in the parser sandbox'));
          opened = true;
          return Promise.resolve(process.stdin);
        },
      },
      {
        maxChars: job.maxChars,
        maxBytes: job.maxBytes,
        maxPixels: job.maxPixels,
        tesseract: new OcrEngine(job.tesseractBinary, 60_000, ocrDeadline),
      },
    );
    answer = { type: 'done', extraction };
  } catch (error) {
    answer =
      error instanceof ProcessingFailure
        ? { type: 'failure', code: error.code, message: error.message }
        : { type: 'error', message: error instanceof Error ? error.message : String(error) };
  }
  await send(answer);
  process.stdin.destroy();
  process.exit(0);
}

void main();
