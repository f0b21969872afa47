import AdmZip from 'adm-zip';
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
