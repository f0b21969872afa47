import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import mammoth from 'mammoth';
import { parseStream } from 'music-metadata';
import sharp, { type Metadata, type OutputInfo } from 'sharp';

/** A failure that retrying cannot fix (a damaged file); anything else is retried. */
export class ProcessingFailure extends Error {
  constructor(
    readonly code: 'EMPTY_FILE' | 'CORRUPT_FILE' | 'INVALID_CONTENT' | 'UNSUPPORTED_CONTENT',
    message: string,
  ) {
    super(message);
  }
}

export interface Extraction {
  extractedText: string | null;
  metadata: Record<string, unknown>;
  thumbnail?: { bytes: Buffer; mimeType: string; width: number; height: number };
  /** New content to serve instead of the upload (an image with its metadata removed). */
  replacement?: Buffer;
}

export interface ExtractionInput {
  mimeType: string;
  fileSize: number;
  /** Opens the stored bytes; may be called more than once. */
  open(): Promise<Readable>;
}

export interface ExtractionLimits {
  maxChars: number;
  maxBytes: number;
  tesseract: OcrEngine;
}

export const THUMBNAIL_SIZE = 320;

/** Runs the extractor for the attachment's type. */
export async function extract(input: ExtractionInput, limits: ExtractionLimits): Promise<Extraction> {
  if (input.fileSize === 0) throw new ProcessingFailure('EMPTY_FILE', 'The file is empty');
  const { mimeType } = input;
  if (mimeType.startsWith('text/') || mimeType === 'application/json') return extractText(input, limits);
  if (mimeType.startsWith('audio/') || mimeType.startsWith('video/')) return extractMedia(input);
  if (input.fileSize > limits.maxBytes) {
    return { extractedText: null, metadata: { textExtraction: 'skipped', reason: `larger than ${limits.maxBytes} bytes` } };
  }
  const bytes = await readAll(await input.open(), limits.maxBytes);
  if (mimeType === 'application/pdf') return extractPdf(bytes, limits);
  if (mimeType.endsWith('wordprocessingml.document')) return extractDocx(bytes, limits);
  if (mimeType.startsWith('image/')) return extractImage(bytes, limits);
  return { extractedText: null, metadata: { textExtraction: 'not supported for this type' } };
}

async function extractText(input: ExtractionInput, limits: ExtractionLimits): Promise<Extraction> {
  // UTF-8 takes at most 4 bytes a character: this many bytes always hold maxChars characters.
  const bytes = await readAll(await input.open(), limits.maxChars * 4);
  const decoded = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false }).decode(bytes);
  const { text, truncated } = capText(decoded, limits.maxChars, bytes.length < input.fileSize);
  if (text.trim() === '') throw new ProcessingFailure('EMPTY_FILE', 'The file has no text');
  if (input.mimeType === 'application/json' && !truncated) {
    try {
      JSON.parse(text);
    } catch (error) {
      throw new ProcessingFailure('INVALID_CONTENT', `The file is not valid JSON: ${(error as Error).message}`);
    }
  }
  return { extractedText: text, metadata: { characters: [...text].length, lines: text.split('\n').length, truncated } };
}

async function extractPdf(bytes: Buffer, limits: ExtractionLimits): Promise<Extraction> {
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  let document: Awaited<ReturnType<typeof pdfjs.getDocument>['promise']>;
  try {
    document = await pdfjs.getDocument({
      data: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length),
      isEvalSupported: false,
      disableFontFace: true,
      useSystemFonts: false,
      stopAtErrors: true,
      verbosity: pdfjs.VerbosityLevel.ERRORS,
    }).promise;
  } catch (error) {
    throw new ProcessingFailure('CORRUPT_FILE', `The PDF could not be read: ${(error as Error).message}`);
  }
  try {
    const pages: string[] = [];
    let length = 0;
    for (let number = 1; number <= document.numPages && length < limits.maxChars; number += 1) {
      const page = await document.getPage(number);
      const content = await page.getTextContent();
      const text = content.items
        .map((item) => ('str' in item ? item.str + (item.hasEOL ? '\n' : '') : ''))
        .join('')
        .trim();
      pages.push(text);
      length += text.length;
      page.cleanup();
    }
    const joined = pages.map((text, index) => `[page ${index + 1}]\n${text}`).join('\n\n');
    const { text, truncated } = capText(joined, limits.maxChars, pages.length < document.numPages);
    return {
      extractedText: pages.some((page) => page !== '') ? text : null,
      metadata: { pages: document.numPages, characters: [...text].length, truncated },
    };
  } catch (error) {
    throw new ProcessingFailure('CORRUPT_FILE', `The PDF could not be read: ${(error as Error).message}`);
  } finally {
    await document.destroy();
  }
}

async function extractDocx(bytes: Buffer, limits: ExtractionLimits): Promise<Extraction> {
  let raw: string;
  try {
    raw = (await mammoth.extractRawText({ buffer: bytes })).value;
  } catch (error) {
    throw new ProcessingFailure('CORRUPT_FILE', `The document could not be read: ${(error as Error).message}`);
  }
  const { text, truncated } = capText(raw.replace(/\n{3,}/g, '\n\n').trim(), limits.maxChars, false);
  return { extractedText: text === '' ? null : text, metadata: { characters: [...text].length, truncated } };
}

async function extractImage(bytes: Buffer, limits: ExtractionLimits): Promise<Extraction> {
  let info: Metadata;
  let thumbnail: { data: Buffer; info: OutputInfo };
  try {
    info = await sharp(bytes).metadata();
    // Decoding the whole image (not just its header) is what tells a truncated file.
    thumbnail = await sharp(bytes, { failOn: 'truncated' })
      .rotate()
      .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new ProcessingFailure('CORRUPT_FILE', `The image could not be decoded: ${(error as Error).message}`);
  }
  const hadMetadata = Boolean(info.exif ?? info.xmp ?? info.iptc);
  // EXIF can carry where a photo was taken: what we serve is re-encoded without it, upright.
  const replacement = hadMetadata ? await withoutMetadata(bytes, info) : undefined;
  const upright = (info.orientation ?? 1) >= 5;
  const metadata: Record<string, unknown> = {
    width: upright ? info.height : info.width,
    height: upright ? info.width : info.height,
    format: info.format,
    pages: info.pages ?? 1,
    metadataStripped: hadMetadata,
  };
  const ocr = await limits.tesseract.recognize(replacement ?? bytes);
  metadata.ocr = ocr.state;
  return {
    extractedText: ocr.text,
    metadata,
    thumbnail: { bytes: thumbnail.data, mimeType: 'image/webp', width: thumbnail.info.width, height: thumbnail.info.height },
    replacement,
  };
}

async function withoutMetadata(bytes: Buffer, info: Metadata): Promise<Buffer> {
  const image = sharp(bytes, { animated: (info.pages ?? 1) > 1 })
    .rotate()
    .keepIccProfile();
  switch (info.format) {
    case 'jpeg':
      return image.jpeg({ quality: 92, mozjpeg: true }).toBuffer();
    case 'png':
      return image.png().toBuffer();
    case 'webp':
      return image.webp({ quality: 92 }).toBuffer();
    default:
      return image.toBuffer();
  }
}

async function extractMedia(input: ExtractionInput): Promise<Extraction> {
  const stream = await input.open();
  try {
    const { format } = await parseStream(stream, { mimeType: input.mimeType, size: input.fileSize }, { duration: true, skipCovers: true });
    if (format.duration === undefined && format.codec === undefined && format.container === undefined) {
      throw new ProcessingFailure('CORRUPT_FILE', 'No audio or video stream found in the file');
    }
    const video = format.trackInfo.find((track) => track.video);
    return {
      extractedText: null,
      metadata: dropUndefined({
        durationSeconds: format.duration === undefined ? undefined : Math.round(format.duration * 1000) / 1000,
        container: format.container,
        codec: format.codec,
        sampleRate: format.sampleRate,
        channels: format.numberOfChannels,
        bitrate: format.bitrate === undefined ? undefined : Math.round(format.bitrate),
        lossless: format.lossless,
        width: video?.video?.pixelWidth,
        height: video?.video?.pixelHeight,
      }),
    };
  } catch (error) {
    if (error instanceof ProcessingFailure) throw error;
    throw new ProcessingFailure('CORRUPT_FILE', `The media file could not be read: ${(error as Error).message}`);
  } finally {
    stream.destroy();
  }
}

export interface OcrResult {
  state: 'done' | 'none' | 'unavailable' | 'failed';
  text: string | null;
}

/** Text in images through the Tesseract command line, when it is installed. */
export class OcrEngine {
  private available?: Promise<boolean>;

  constructor(
    private readonly binary: string,
    private readonly timeoutMs = 60_000,
  ) {}

  isAvailable(): Promise<boolean> {
    this.available ??= run(this.binary, ['--version'], 10_000).then(
      () => true,
      () => false,
    );
    return this.available;
  }

  async recognize(image: Buffer): Promise<OcrResult> {
    if (!(await this.isAvailable())) return { state: 'unavailable', text: null };
    const path = join(tmpdir(), `wms-ocr-${randomBytes(8).toString('hex')}.png`);
    try {
      // Greyscale PNG, enlarged when small: what Tesseract reads best.
      const meta = await sharp(image).metadata();
      const scale = (meta.width ?? 0) < 1000 ? 2 : 1;
      await writeFile(
        path,
        await sharp(image)
          .rotate()
          .resize({ width: (meta.width ?? 1000) * scale })
          .greyscale()
          .png()
          .toBuffer(),
      );
      const text = (await run(this.binary, [path, 'stdout', '--psm', '3'], this.timeoutMs)).replace(/\f/g, '').trim();
      return text === '' ? { state: 'none', text: null } : { state: 'done', text };
    } catch {
      return { state: 'failed', text: null };
    } finally {
      await rm(path, { force: true });
    }
  }
}

function run(binary: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: timeoutMs });
    const out: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(out).toString('utf8')) : reject(new Error(`${binary} exited with ${code}`)),
    );
  });
}

/** Reads a stream into memory, refusing more than `maxBytes` (callers check sizes first). */
async function readAll(stream: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const room = maxBytes - length;
    chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
    length += Math.min(chunk.length, room);
    if (length >= maxBytes) {
      stream.destroy();
      break;
    }
  }
  return Buffer.concat(chunks, length);
}

function capText(text: string, maxChars: number, alreadyCut: boolean): { text: string; truncated: boolean } {
  const characters = [...text];
  if (characters.length <= maxChars) return { text, truncated: alreadyCut };
  return { text: characters.slice(0, maxChars).join(''), truncated: true };
}

function dropUndefined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined));
}
