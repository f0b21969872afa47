import AdmZip from 'adm-zip';
import { once } from 'node:events';
import { constants as zlibConstants, crc32, createDeflate, createDeflateRaw, deflateRawSync } from 'node:zlib';
import PDFDocument from 'pdfkit';
import sharp from 'sharp';

/** Real files of each accepted kind, made by the libraries that read such files, small enough for tests. */

export function png(width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .png()
    .toBuffer();
}

/** A JPEG carrying EXIF with a camera model and GPS position (what must not be served back). */
export function jpegWithLocation(width = 640, height = 480): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 20, g: 120, b: 200 } } })
    .jpeg()
    .withExif({
      IFD0: { Make: 'WarehouseCam', Model: 'Dock-7' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 0/1' },
    })
    .toBuffer();
}

/** An image showing `text` in large black letters (for OCR). */
export async function imageWithText(text: string): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="900" height="200"><rect width="100%" height="100%" fill="white"/>
    <text x="40" y="130" font-family="DejaVu Sans, sans-serif" font-size="90" fill="black">${text}</text></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

export function pdf(pages: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const doc = new PDFDocument({ size: 'A4' });
    const chunks: Buffer[] = [];
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    pages.forEach((text, index) => {
      if (index > 0) doc.addPage();
      doc.fontSize(14).text(text);
    });
    doc.end();
  });
}

/** A minimal but valid Word document (OOXML) with one paragraph per entry. */
export function docx(paragraphs: string[]): Buffer {
  const zip = new AdmZip();
  zip.addFile(
    '[Content_Types].xml',
    Buffer.from(
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>' +
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    ),
  );
  zip.addFile(
    '_rels/.rels',
    Buffer.from(
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
    ),
  );
  const body = paragraphs.map((text) => `<w:p><w:r><w:t xml:space="preserve">${escapeXml(text)}</w:t></w:r></w:p>`).join('');
  zip.addFile(
    'word/document.xml',
    Buffer.from(
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">' +
        `<w:body>${body}</w:body></w:document>`,
    ),
  );
  return zip.toBuffer();
}

/** PCM WAV: `seconds` of a 440 Hz tone, mono, 8 kHz, 16 bit. */
export function wav(seconds: number): Buffer {
  const rate = 8000;
  const samples = Math.round(seconds * rate);
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i += 1) data.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 12000), i * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/** An ISO base media (MP4) file of `seconds` with one (silent, sample-less) sound track: the boxes players read the duration from. */
export function mp4(seconds: number): Buffer {
  const box = (type: string, ...payload: Buffer[]) => {
    const body = Buffer.concat(payload);
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length + 8, 0);
    head.write(type, 4, 'latin1');
    return Buffer.concat([head, body]);
  };
  const ftyp = box('ftyp', Buffer.from('isom'), u32(0x200), Buffer.from('isomiso2mp41'));
  const matrix = Buffer.concat([u32(0x10000), u32(0), u32(0), u32(0), u32(0x10000), u32(0), u32(0), u32(0), u32(0x40000000)]);
  const mvhd = box(
    'mvhd',
    u32(0), // version 0, flags
    u32(0), // creation time
    u32(0), // modification time
    u32(1000), // timescale
    u32(Math.round(seconds * 1000)), // duration
    u32(0x10000), // rate 1.0
    Buffer.from([0x01, 0x00]), // volume 1.0
    Buffer.alloc(10),
    matrix,
    Buffer.alloc(24),
    u32(2), // next track id
  );
  const tkhd = box(
    'tkhd',
    u32(3),
    u32(0),
    u32(0),
    u32(1),
    u32(0),
    u32(Math.round(seconds * 1000)),
    Buffer.alloc(8),
    Buffer.alloc(8),
    matrix,
    u32(0),
    u32(0),
  );
  const mdhd = box('mdhd', u32(0), u32(0), u32(0), u32(44100), u32(Math.round(seconds * 44100)), Buffer.from([0x55, 0xc4, 0, 0]));
  const hdlr = box('hdlr', u32(0), u32(0), Buffer.from('soun'), Buffer.alloc(12), Buffer.from('SoundHandler\0'));
  const soundEntry = Buffer.concat([
    Buffer.alloc(6),
    Buffer.from([0, 1]),
    Buffer.from([0, 0, 0, 0]),
    u32(0),
    Buffer.from([0, 2, 0, 16, 0, 0, 0, 0]),
    u32(44100 * 0x10000),
  ]);
  const stsd = box('stsd', u32(0), u32(1), box('mp4a', soundEntry));
  const trak = box(
    'trak',
    tkhd,
    box(
      'mdia',
      mdhd,
      hdlr,
      box(
        'minf',
        box('stbl', stsd, ...['stts', 'stsc', 'stco'].map((table) => box(table, u32(0), u32(0))), box('stsz', u32(0), u32(0), u32(0))),
      ),
    ),
  );
  return Buffer.concat([ftyp, box('moov', mvhd, trak), box('mdat', Buffer.alloc(64))]);
}

/** A Linux executable header: what an attacker would rename to .png. */
export function elf(): Buffer {
  const bytes = Buffer.alloc(256);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00]).copy(bytes);
  return bytes;
}

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value >>> 0, 0);
  return bytes;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// Hostile files: bombs that are small on disk and huge once unpacked or decoded, and garbage.

/** Raw deflate data of one zip entry, with what it unpacks to. */
export interface DeflatedEntry {
  deflated: Buffer;
  crc: number;
  size: number;
  /** The unpacked size the zip headers should declare, when it should lie. */
  declared?: number;
}

const spaceRuns = new Map<number, Promise<DeflatedEntry>>();

/**
 * `count` spaces, deflated (zlib, level 9: about 1000 to 1) and ended with a sync flush rather than
 * a final block, so that more deflate data can follow it. Made once per size per test file.
 */
function deflatedSpaces(count: number): Promise<DeflatedEntry> {
  let made = spaceRuns.get(count);
  if (!made) {
    made = (async () => {
      const deflate = createDeflateRaw({ level: 9, memLevel: 9 });
      const out: Buffer[] = [];
      deflate.on('data', (chunk: Buffer) => out.push(chunk));
      const block = Buffer.alloc(1 << 20, 0x20);
      let crc = 0;
      for (let left = count; left > 0;) {
        const part = left >= block.length ? block : block.subarray(0, left);
        crc = crc32(part, crc);
        left -= part.length;
        if (!deflate.write(part)) await once(deflate, 'drain');
      }
      await new Promise<void>((resolve) => deflate.flush(zlibConstants.Z_SYNC_FLUSH, () => resolve()));
      await new Promise((resolve) => setImmediate(resolve));
      deflate.close();
      return { deflated: Buffer.concat(out), crc, size: count };
    })();
    spaceRuns.set(count, made);
  }
  return made;
}

/** An entry of `count` spaces followed by `tail` (leading white space is allowed before an XML root element, so the part stays well-formed XML). */
export async function spacesThen(count: number, tail: string): Promise<DeflatedEntry> {
  const run = await deflatedSpaces(count);
  const end = Buffer.from(tail);
  return { deflated: Buffer.concat([run.deflated, deflateRawSync(end)]), crc: crc32(end, run.crc), size: run.size + end.length };
}

export interface ZipPart {
  name: string;
  /** Plain content (deflated here unless `store`), or ready-made deflate data. */
  data: Buffer | string | DeflatedEntry;
  store?: boolean;
}

/** A zip archive written by hand, so that entries can carry deflate data made elsewhere (bombs). */
export function zipArchive(parts: ZipPart[]): Buffer {
  const chunks: Buffer[] = [];
  const directory: Buffer[] = [];
  let offset = 0;
  for (const part of parts) {
    const name = Buffer.from(part.name);
    let entry: DeflatedEntry & { method: number };
    if (typeof part.data === 'string' || Buffer.isBuffer(part.data)) {
      const plain = Buffer.from(part.data);
      entry = part.store
        ? { deflated: plain, crc: crc32(plain), size: plain.length, method: 0 }
        : { deflated: deflateRawSync(plain), crc: crc32(plain), size: plain.length, method: 8 };
    } else {
      entry = { ...part.data, method: 8 };
    }
    const declaredSize = entry.declared ?? entry.size;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(entry.method, 8);
    local.writeUInt32LE(entry.crc >>> 0, 14);
    local.writeUInt32LE(entry.deflated.length, 18);
    local.writeUInt32LE(declaredSize, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(entry.method, 10);
    central.writeUInt32LE(entry.crc >>> 0, 16);
    central.writeUInt32LE(entry.deflated.length, 20);
    central.writeUInt32LE(declaredSize, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    chunks.push(local, name, entry.deflated);
    directory.push(central, name);
    offset += local.length + name.length + entry.deflated.length;
  }
  const directorySize = directory.reduce((sum, part) => sum + part.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(parts.length, 8);
  end.writeUInt16LE(parts.length, 10);
  end.writeUInt32LE(directorySize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...chunks, ...directory, end]);
}

export type ZipFormat = 'docx' | 'xlsx' | 'pptx' | 'odt' | 'epub';

const XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>';
const RELS = 'http://schemas.openxmlformats.org/package/2006/relationships';
const OFFICE_DOCUMENT = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument';

function contentTypes(partName: string, contentType: string): string {
  return (
    `${XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
    `<Default Extension="xml" ContentType="application/xml"/><Override PartName="/${partName}" ContentType="${contentType}"/></Types>`
  );
}

function rootRels(target: string): string {
  return `${XML}<Relationships xmlns="${RELS}"><Relationship Id="rId1" Type="${OFFICE_DOCUMENT}" Target="${target}"/></Relationships>`;
}

/**
 * A zip bomb in a valid container of `format`: the main part is `unpackedBytes` of white space
 * before its (well-formed) XML, deflated to about a thousandth of that. With `lie`, the headers
 * declare the part 4 KB, so only inflating it shows what it is.
 */
export async function zipBomb(format: ZipFormat, unpackedBytes = 512 * 1024 * 1024, options: { lie?: boolean } = {}): Promise<Buffer> {
  const bomb = async (tail: string): Promise<DeflatedEntry> => {
    const entry = await spacesThen(unpackedBytes, tail);
    return options.lie ? { ...entry, declared: 4096 } : entry;
  };
  switch (format) {
    case 'docx':
      return zipArchive([
        {
          name: '[Content_Types].xml',
          data: contentTypes('word/document.xml', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml'),
        },
        { name: '_rels/.rels', data: rootRels('word/document.xml') },
        {
          name: 'word/document.xml',
          data: await bomb(
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>x</w:t></w:r></w:p></w:body></w:document>',
          ),
        },
      ]);
    case 'xlsx':
      return zipArchive([
        {
          name: '[Content_Types].xml',
          data: contentTypes('xl/workbook.xml', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml'),
        },
        { name: '_rels/.rels', data: rootRels('xl/workbook.xml') },
        {
          name: 'xl/workbook.xml',
          data: `${XML}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets><sheet name="Sheet1" sheetId="1"/></sheets></workbook>`,
        },
        {
          name: 'xl/worksheets/sheet1.xml',
          data: await bomb('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>'),
        },
      ]);
    case 'pptx':
      return zipArchive([
        {
          name: '[Content_Types].xml',
          data: contentTypes('ppt/presentation.xml', 'application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml'),
        },
        { name: '_rels/.rels', data: rootRels('ppt/presentation.xml') },
        {
          name: 'ppt/presentation.xml',
          data: await bomb('<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>'),
        },
      ]);
    case 'odt':
      return zipArchive([
        { name: 'mimetype', data: 'application/vnd.oasis.opendocument.text', store: true },
        {
          name: 'META-INF/manifest.xml',
          data: `${XML}<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/></manifest:manifest>`,
        },
        {
          name: 'content.xml',
          data: await bomb('<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>'),
        },
      ]);
    case 'epub':
      return zipArchive([
        { name: 'mimetype', data: 'application/epub+zip', store: true },
        {
          name: 'META-INF/container.xml',
          data: `${XML}<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>`,
        },
        { name: 'content.opf', data: await bomb('<package xmlns="http://www.idpf.org/2007/opf" version="3.0"/>') },
      ]);
  }
}

/** A Word document whose text is about `bytes` long: legitimate, but slow and memory-hungry to parse when large. */
export function largeDocx(bytes: number): Buffer {
  const paragraph = 'Pallet 0042 moved from receiving dock 3 to reserve location A-12-04 after the cycle count. ';
  const count = Math.ceil(bytes / paragraph.length);
  return docx(Array.from({ length: count }, () => paragraph));
}

/** A PNG that declares `width`×`height` pixels (1-bit grey, all black): about 110 KB on disk for 30000×30000, 900 megapixels decoded. */
export async function pngPixelBomb(width = 30_000, height = 30_000): Promise<Buffer> {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1; // bit depth
  header[9] = 0; // greyscale
  const rowBytes = 1 + Math.ceil(width / 8); // filter byte + pixels
  const deflate = createDeflate({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (part: Buffer) => out.push(part));
  const ended = once(deflate, 'end');
  const rows = Buffer.alloc(rowBytes * 500);
  for (let row = 0; row < height; row += 500) {
    const part = rows.subarray(0, rowBytes * Math.min(500, height - row));
    if (!deflate.write(part)) await once(deflate, 'drain');
  }
  deflate.end();
  await ended;
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', Buffer.concat(out)), chunk('IEND', Buffer.alloc(0))]);
}

/** A PDF header followed by noise: what a damaged or hostile upload looks like to the parser. */
export function garbagePdf(bytes = 64 * 1024): Buffer {
  const noise = Buffer.alloc(bytes);
  let state = 0x2545f491;
  for (let i = 0; i < bytes; i += 1) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    noise[i] = state & 0xff;
  }
  return Buffer.concat([Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nstream\n', 'latin1'), noise]);
}
