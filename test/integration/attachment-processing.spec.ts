import { Readable } from 'node:stream';
import { OcrEngine, ProcessingFailure, extract } from '../../src/attachments/processing/extractors.js';
import { sniffFileType } from '../../src/attachments/upload/file-policy.js';
import * as fixtures from '../support/fixtures.js';

const limits = { maxChars: 10_000, maxBytes: 50 * 1024 * 1024, tesseract: new OcrEngine('no-such-tesseract-binary') };

async function run(name: string, bytes: Buffer, overrides: Partial<typeof limits> = {}) {
  const type = await sniffFileType(bytes.subarray(0, 64 * 1024), name);
  const result = await extract(
    { mimeType: type.mimeType, fileSize: bytes.length, open: () => Promise.resolve(Readable.from([bytes], { objectMode: false })) },
    { ...limits, ...overrides },
  );
  return { type, result };
}

// The extractors against real files made by the libraries that write such files.
describe('attachment processing', () => {
  it('extracts text per page from a PDF', async () => {
    const { type, result } = await run('pick-list.pdf', await fixtures.pdf(['Pick list for aisle seven', 'Second page: pallets']));
    expect(type).toEqual({ fileType: 'document', mimeType: 'application/pdf', extension: 'pdf' });
    expect(result.metadata).toMatchObject({ pages: 2, truncated: false });
    expect(result.extractedText).toContain('[page 1]\nPick list for aisle seven');
    expect(result.extractedText).toContain('[page 2]\nSecond page: pallets');
  });

  it('fails a truncated PDF with a reason', async () => {
    const whole = await fixtures.pdf(['Pick list for aisle seven']);
    await expect(run('broken.pdf', whole.subarray(0, 400))).rejects.toThrow(ProcessingFailure);
  });

  it('extracts the paragraphs of a DOCX', async () => {
    const { type, result } = await run('procedure.docx', fixtures.docx(['Receiving procedure', 'Scan every pallet label']));
    expect(type.mimeType).toBe('application/vnd.openxmlformats-officedocument.wordprocessingml.document');
    expect(result.extractedText).toBe('Receiving procedure\n\nScan every pallet label');
  });

  it('measures an image, makes a thumbnail and strips EXIF location', async () => {
    const { type, result } = await run('dock.jpeg', await fixtures.jpegWithLocation(640, 480));
    expect(type).toEqual({ fileType: 'image', mimeType: 'image/jpeg', extension: 'jpg' });
    expect(result.metadata).toMatchObject({ width: 640, height: 480, format: 'jpeg', metadataStripped: true, ocr: 'unavailable' });
    expect(result.thumbnail).toMatchObject({ mimeType: 'image/webp', width: 320, height: 240 });
    const sharp = (await import('sharp')).default;
    expect((await sharp(result.replacement as Buffer).metadata()).exif).toBeUndefined();
  });

  it('fails a truncated image', async () => {
    const whole = await fixtures.jpegWithLocation(800, 600);
    await expect(run('cut.jpg', whole.subarray(0, Math.floor(whole.length / 2)))).rejects.toThrow(ProcessingFailure);
  });

  it('reads duration and codec of audio and video', async () => {
    const audio = await run('beep.wav', fixtures.wav(1.5));
    expect(audio.type.fileType).toBe('audio');
    expect(audio.result.metadata).toMatchObject({ durationSeconds: 1.5, sampleRate: 8000, channels: 1 });
    const video = await run('clip.mp4', fixtures.mp4(2.5));
    expect(video.type).toEqual({ fileType: 'video', mimeType: 'video/mp4', extension: 'mp4' });
    expect(video.result.metadata).toMatchObject({ durationSeconds: 2.5 });
  });

  it('caps extracted text and fails invalid JSON and empty text', async () => {
    const long = await run('notes.txt', Buffer.from('Ü'.repeat(5000)), { maxChars: 1000 });
    expect([...long.result.extractedText!]).toHaveLength(1000);
    expect(long.result.metadata).toMatchObject({ truncated: true });
    await expect(run('data.json', Buffer.from('{"sku": '))).rejects.toThrow('not valid JSON');
    await expect(run('blank.txt', Buffer.from('   \n  '))).rejects.toThrow('no text');
  });

  it('reads text in images when Tesseract is installed', async () => {
    const engine = new OcrEngine('tesseract');
    const { result } = await run('label.png', await fixtures.imageWithText('DOCK SEVEN'), { tesseract: engine });
    if (await engine.isAvailable()) {
      expect(result.metadata.ocr).toBe('done');
      expect(result.extractedText).toMatch(/DOCK\s+SEVEN/);
    } else {
      expect(result.metadata.ocr).toBe('unavailable');
      expect(result.extractedText).toBeNull();
    }
  });
});

describe('file type policy', () => {
  it.each([
    ['an executable named .png', 'photo.png', fixtures.elf()],
    ['HTML named .jpg', 'photo.jpg', Buffer.from('<!DOCTYPE html><html><script>alert(1)</script></html>')],
    ['SVG', 'logo.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')],
    ['HTML named .txt', 'notes.txt', Buffer.from('<html><body onload="x()">hi</body></html>')],
    ['a PNG named .pdf', 'scan.pdf', null],
    ['text named .exe', 'setup.exe', Buffer.from('just text')],
    ['text named .json that is not JSON', 'data.json', Buffer.from('hello')],
    ['an empty file named .png', 'empty.png', Buffer.alloc(0)],
  ])('refuses %s', async (_label, name, bytes) => {
    const content = bytes ?? (await fixtures.png());
    await expect(sniffFileType(content, name)).rejects.toThrow();
  });

  it('accepts text with a cut multi-byte character at the sniff boundary', async () => {
    const bytes = Buffer.from('é'.repeat(10));
    await expect(sniffFileType(bytes.subarray(0, 5), 'notes.md')).resolves.toMatchObject({ mimeType: 'text/markdown' });
  });
});
