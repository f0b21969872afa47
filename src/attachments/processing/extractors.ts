import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Metadata, OutputInfo } from 'sharp';
import { ProcessingFailure } from './processing-failure.js';
import { repackStored, unpackZip } from './zip-reader.js';

export { ProcessingFailure } from './processing-failure.js';

// The parsers (pdf.js, mammoth, sharp, music-metadata) are loaded when a file needs them: in the
// parser sandbox (parser-child.ts), never in the API process, which only handles plain text.

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
  /** Bytes a file may have, and may unpack to (zip containers), to be parsed. */
  maxBytes: number;
  /** Pixels (all frames) an image may declare to be decoded; DEFAULT_MAX_IMAGE_PIXELS when unset. */
  maxPixels?: number;
  tesseract: OcrEngine;
}

export const THUMBNAIL_SIZE = 320;
export const DEFAULT_MAX_IMAGE_PIXELS = 50_000_000;

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
/** Zip-based formats we accept but do not read: their container is still unpacked within budget, so a bomb fails. */
const ZIP_CONTAINERS_NOT_READ = new Set(['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet']);

/** Plain text is read in the API process (at most maxChars × 4 bytes, decoded once); everything else goes to the parser sandbox. */
export function isPlainText(mimeType: string): boolean {
  return mimeType.startsWith('text/') || mimeType === 'application/json';
}

/** Runs the extractor for the attachment's type. */
export async function extract(input: ExtractionInput, limits: ExtractionLimits): Promise<Extraction> {
  if (input.fileSize === 0) throw new ProcessingFailure('EMPTY_FILE', 'The file is empty');
  const { mimeType } = input;
  if (isPlainText(mimeType)) return extractText(input, limits);
  if (mimeType.startsWith('audio/') || mimeType.startsWith('video/')) return extractMedia(input);
  if (input.fileSize > limits.maxBytes) {
    return { extractedText: null, metadata: { textExtraction: 'skipped', reason: `larger than ${limits.maxBytes} bytes` } };
  }
  const bytes = await readAll(await input.open(), limits.maxBytes);
  if (mimeType === 'application/pdf') return extractPdf(bytes, limits);
  if (mimeType === DOCX) return extractDocx(bytes, limits);
  if (mimeType.startsWith('image/')) return extractImage(bytes, limits);
  if (ZIP_CONTAINERS_NOT_READ.has(mimeType)) {
    const { entries, totalBytes } = await unpackZip(bytes, { maxBytes: limits.maxBytes }, false);
    return {
      extractedText: null,
      metadata: { textExtraction: 'not supported for this type', entries: entries.length, unpackedBytes: totalBytes },
    };
  }
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
  // mammoth unzips with no limit of its own: it gets the archive unpacked within budget, stored.
  const safe = repackStored((await unpackZip(bytes, { maxBytes: limits.maxBytes }, true)).entries);
  const { default: mammoth } = await import('mammoth');
  let raw: string;
  try {
    raw = (await mammoth.extractRawText({ buffer: safe })).value;
  } catch (error) {
    throw new ProcessingFailure('CORRUPT_FILE', `The document could not be read: ${(error as Error).message}`);
  }
  const { text, truncated } = capText(raw.replace(/\n{3,}/g, '\n\n').trim(), limits.maxChars, false);
  return { extractedText: text === '' ? null : text, metadata: { characters: [...text].length, truncated } };
}

async function extractImage(bytes: Buffer, limits: ExtractionLimits): Promise<Extraction> {
  const { default: sharp } = await import('sharp');
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_IMAGE_PIXELS;
  let info: Metadata;
  try {
    // The header only: what the image says it is, before anything is decoded.
    info = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new ProcessingFailure('CORRUPT_FILE', `The image could not be decoded: ${(error as Error).message}`);
  }
  assertPixels(info, maxPixels);
  let thumbnail: { data: Buffer; info: OutputInfo };
  try {
    // Decoding the whole image (not just its header) is what tells a truncated file.
    thumbnail = await sharp(bytes, { failOn: 'truncated', limitInputPixels: maxPixels })
      .rotate()
      .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new ProcessingFailure('CORRUPT_FILE', `The image could not be decoded: ${(error as Error).message}`);
  }
  const hadMetadata = Boolean(info.exif ?? info.xmp ?? info.iptc);
  // EXIF can carry where a photo was taken: what we serve is re-encoded without it, upright.
  const replacement = hadMetadata ? await withoutMetadata(bytes, info, maxPixels) : undefined;
  const upright = (info.orientation ?? 1) >= 5;
  const metadata: Record<string, unknown> = {
    width: upright ? info.height : info.width,
    height: upright ? info.width : info.height,
    format: info.format,
    pages: info.pages ?? 1,
    metadataStripped: hadMetadata,
  };
  const ocr = await limits.tesseract.recognize(replacement ?? bytes, maxPixels);
  metadata.ocr = ocr.state;
  return {
    extractedText: ocr.text,
    metadata,
    thumbnail: { bytes: thumbnail.data, mimeType: 'image/webp', width: thumbnail.info.width, height: thumbnail.info.height },
    replacement,
  };
}

/** Refuses an image whose declared size (every frame) is above the limit, before it is decoded. */
function assertPixels(info: Metadata, maxPixels: number): void {
  const width = info.width ?? 0;
  const height = info.pageHeight ?? info.height ?? 0;
  const frames = info.pages ?? 1;
  const pixels = width * height * frames;
  if (pixels <= maxPixels) return;
  const size = `${width}×${height} pixels${frames > 1 ? ` in ${frames} frames` : ''}`;
  throw new ProcessingFailure(
    'IMAGE_TOO_LARGE',
    `The image is ${size} (${megapixels(pixels)} megapixels); images above ${megapixels(maxPixels)} megapixels are stored but not decoded`,
  );
}

function megapixels(pixels: number): string {
  return String(Math.round(pixels / 100_000) / 10);
}

async function withoutMetadata(bytes: Buffer, info: Metadata, maxPixels: number): Promise<Buffer> {
  const { default: sharp } = await import('sharp');
  const image = sharp(bytes, { animated: (info.pages ?? 1) > 1, limitInputPixels: maxPixels })
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
  const { parseStream } = await import('music-metadata');
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

  /**
   * @param deadline when set (epoch ms), OCR gives up in time for it: in the parser sandbox, the
   * image is still processed (with `ocr: failed`) rather than the whole parser killed.
   */
  constructor(
    private readonly binary: string,
    private readonly timeoutMs = 60_000,
    private readonly deadline?: number,
  ) {}

  isAvailable(): Promise<boolean> {
    this.available ??= run(this.binary, ['--version'], 10_000).then(
      () => true,
      () => false,
    );
    return this.available;
  }

  async recognize(image: Buffer, maxPixels = DEFAULT_MAX_IMAGE_PIXELS): Promise<OcrResult> {
    if (!(await this.isAvailable())) return { state: 'unavailable', text: null };
    const path = join(tmpdir(), `wms-ocr-${randomBytes(8).toString('hex')}.png`);
    temporaryFiles.add(path);
    try {
      const { default: sharp } = await import('sharp');
      // Greyscale PNG, enlarged when small: what Tesseract reads best.
      const meta = await sharp(image, { limitInputPixels: maxPixels }).metadata();
      const scale = (meta.width ?? 0) < 1000 ? 2 : 1;
      await writeFile(
        path,
        await sharp(image, { limitInputPixels: maxPixels })
          .rotate()
          .resize({ width: (meta.width ?? 1000) * scale })
          .greyscale()
          .png()
          .toBuffer(),
      );
      const timeoutMs = Math.min(this.timeoutMs, this.deadline === undefined ? Infinity : this.deadline - Date.now());
      if (timeoutMs < 1000) return { state: 'failed', text: null };
      const text = (await run(this.binary, [path, 'stdout', '--psm', '3'], timeoutMs)).replace(/\f/g, '').trim();
      return text === '' ? { state: 'none', text: null } : { state: 'done', text };
    } catch {
      return { state: 'failed', text: null };
    } finally {
      await rm(path, { force: true });
      temporaryFiles.delete(path);
    }
  }
}

/** Programs started by extraction (Tesseract) and still running, and the files written for them. */
const subprocesses = new Set<ChildProcess>();
const temporaryFiles = new Set<string>();

/** Stops what extraction started and removes the copies it wrote, at once (the parser sandbox's child is being stopped). */
export function abandonExtraction(): void {
  for (const child of subprocesses) child.kill('SIGKILL');
  for (const path of temporaryFiles) rmSync(path, { force: true });
}

function run(binary: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: timeoutMs });
    subprocesses.add(child);
    const out: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.on('error', (error) => {
      subprocesses.delete(child);
      reject(error);
    });
    child.on('close', (code) => {
      subprocesses.delete(child);
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`${binary} exited with ${code}`));
    });
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
