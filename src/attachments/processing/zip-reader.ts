import { crc32, createInflateRaw } from 'node:zlib';
import { ProcessingFailure } from './processing-failure.js';

/**
 * A zip reader for untrusted archives (DOCX, XLSX and the other zip-based formats), written so
 * that a zip bomb costs nothing: the sizes the central directory declares are checked first, and
 * every entry is then inflated as a stream against one byte budget for the whole archive (the
 * declared sizes may lie; what counts is what comes out). Nothing reads an archive we have not
 * unpacked within budget ourselves: parsers get `repackStored`'s copy, whose entries are stored
 * uncompressed, so their own unzip code has nothing left to inflate.
 */

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL_ENTRY = 0x02014b50;
const LOCAL_ENTRY = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const STORED = 0;
const DEFLATED = 8;
const FLAG_ENCRYPTED = 0x1;
const FLAG_UTF8 = 0x800;

export const MAX_ZIP_ENTRIES = 10_000;

export interface ZipEntry {
  name: string;
  /** The name's bytes as stored, written back unchanged by `repackStored`. */
  rawName: Buffer;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  /** What the central directory says the entry unpacks to (not trusted). */
  declaredSize: number;
  /** Where the entry's compressed data starts (after its local header). */
  dataOffset: number;
}

export interface UnpackedEntry {
  entry: ZipEntry;
  data: Buffer;
}

export interface ZipLimits {
  /** Bytes all entries together may unpack to. */
  maxBytes: number;
  maxEntries?: number;
}

/** The archive's entries, from its central directory; refuses archives whose declared sizes exceed the budget. */
export function readZipDirectory(zip: Buffer, limits: ZipLimits): ZipEntry[] {
  const maxEntries = limits.maxEntries ?? MAX_ZIP_ENTRIES;
  const { count, offset, size } = endOfCentralDirectory(zip);
  if (count > maxEntries) throw tooManyEntries(maxEntries);
  const end = offset + size;
  if (end > zip.length) throw corrupt('its directory lies outside the file');
  const entries: ZipEntry[] = [];
  let declared = 0;
  for (let position = offset, left = count; left > 0; left -= 1) {
    if (position + 46 > end || zip.readUInt32LE(position) !== CENTRAL_ENTRY) throw corrupt('its directory is damaged');
    const flags = zip.readUInt16LE(position + 8);
    const method = zip.readUInt16LE(position + 10);
    const nameLength = zip.readUInt16LE(position + 28);
    const extraLength = zip.readUInt16LE(position + 30);
    const commentLength = zip.readUInt16LE(position + 32);
    const next = position + 46 + nameLength + extraLength + commentLength;
    if (next > end) throw corrupt('its directory is damaged');
    const rawName = zip.subarray(position + 46, position + 46 + nameLength);
    const sizes = zip64Sizes(zip.subarray(position + 46 + nameLength, position + 46 + nameLength + extraLength), {
      declaredSize: zip.readUInt32LE(position + 24),
      compressedSize: zip.readUInt32LE(position + 20),
      localOffset: zip.readUInt32LE(position + 42),
    });
    const name = rawName.toString((flags & FLAG_UTF8) !== 0 ? 'utf8' : 'latin1');
    if ((flags & FLAG_ENCRYPTED) !== 0)
      throw new ProcessingFailure('UNSUPPORTED_CONTENT', 'The archive is encrypted, so it cannot be read');
    if (method !== STORED && method !== DEFLATED) {
      throw new ProcessingFailure('UNSUPPORTED_CONTENT', `The archive uses a compression method (${method}) that is not supported`);
    }
    declared += sizes.declaredSize;
    if (declared > limits.maxBytes) {
      throw decompressionLimit(limits.maxBytes, `its directory declares more than ${formatMb(limits.maxBytes)} of content`);
    }
    entries.push({
      name,
      rawName,
      flags,
      method,
      crc32: zip.readUInt32LE(position + 16),
      compressedSize: sizes.compressedSize,
      declaredSize: sizes.declaredSize,
      dataOffset: localDataOffset(zip, sizes.localOffset, sizes.compressedSize),
    });
    position = next;
  }
  return entries;
}

/**
 * Inflates every entry within the budget, checked while inflating (an entry is abandoned the
 * moment the archive's total passes it), and verifies each entry's CRC. With `keep: false` the
 * content is only counted (a validation pass that holds no more than one chunk at a time).
 */
export async function unpackZip(zip: Buffer, limits: ZipLimits, keep: boolean): Promise<{ entries: UnpackedEntry[]; totalBytes: number }> {
  const entries = readZipDirectory(zip, limits);
  const unpacked: UnpackedEntry[] = [];
  let total = 0;
  for (const entry of entries) {
    const compressed = zip.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
    const room = limits.maxBytes - total;
    const { size, chunks, crc } =
      entry.method === STORED
        ? storedWithin(compressed, room, limits.maxBytes)
        : await inflateWithin(compressed, room, limits.maxBytes, keep);
    if (crc >>> 0 !== entry.crc32 >>> 0) throw corrupt(`"${entry.name}" is damaged (checksum mismatch)`);
    total += size;
    unpacked.push({ entry, data: keep ? Buffer.concat(chunks, size) : Buffer.alloc(0) });
  }
  return { entries: unpacked, totalBytes: total };
}

/** A new archive of the same entries stored uncompressed: what a parser may unzip without any budget of its own. */
export function repackStored(entries: UnpackedEntry[]): Buffer {
  const parts: Buffer[] = [];
  const directory: Buffer[] = [];
  let offset = 0;
  for (const { entry, data } of entries) {
    const flags = entry.flags & FLAG_UTF8;
    const crc = crc32(data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL_ENTRY, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(STORED, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(entry.rawName.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(CENTRAL_ENTRY, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(STORED, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(entry.rawName.length, 28);
    central.writeUInt32LE(offset, 42);
    parts.push(local, entry.rawName, data);
    directory.push(central, entry.rawName);
    offset += local.length + entry.rawName.length + data.length;
    // The budget keeps real archives far below this; a zip64 writer is not worth having for them.
    if (offset > 0xffffffff) throw new ProcessingFailure('DECOMPRESSION_LIMIT', 'The archive unpacks to more than 4 GB');
  }
  const directorySize = directory.reduce((sum, part) => sum + part.length, 0);
  const end = Buffer.alloc(EOCD_SIZE);
  end.writeUInt32LE(EOCD, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directorySize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, ...directory, end]);
}

function endOfCentralDirectory(zip: Buffer): { count: number; offset: number; size: number } {
  const lowest = Math.max(0, zip.length - EOCD_SIZE - MAX_COMMENT);
  for (let position = zip.length - EOCD_SIZE; position >= lowest; position -= 1) {
    if (zip.readUInt32LE(position) !== EOCD) continue;
    if (zip.readUInt16LE(position + 4) !== 0 || zip.readUInt16LE(position + 6) !== 0) {
      throw new ProcessingFailure('UNSUPPORTED_CONTENT', 'Archives split over several files are not supported');
    }
    const count = zip.readUInt16LE(position + 10);
    const size = zip.readUInt32LE(position + 12);
    const offset = zip.readUInt32LE(position + 16);
    if (count !== 0xffff && size !== 0xffffffff && offset !== 0xffffffff) return { count, offset, size };
    return zip64EndOfCentralDirectory(zip, position);
  }
  throw corrupt('it is not a complete zip archive');
}

function zip64EndOfCentralDirectory(zip: Buffer, eocd: number): { count: number; offset: number; size: number } {
  const locator = eocd - 20;
  if (locator < 0 || zip.readUInt32LE(locator) !== ZIP64_LOCATOR) throw corrupt('its zip64 directory is missing');
  const record = safeNumber(zip.readBigUInt64LE(locator + 8));
  if (record + 56 > zip.length || zip.readUInt32LE(record) !== ZIP64_EOCD) throw corrupt('its zip64 directory is damaged');
  return {
    count: safeNumber(zip.readBigUInt64LE(record + 32)),
    size: safeNumber(zip.readBigUInt64LE(record + 40)),
    offset: safeNumber(zip.readBigUInt64LE(record + 48)),
  };
}

/** Sizes and offset from the zip64 extra field, for those the directory entry marks as stored there. */
function zip64Sizes(
  extra: Buffer,
  fields: { declaredSize: number; compressedSize: number; localOffset: number },
): { declaredSize: number; compressedSize: number; localOffset: number } {
  const result = { ...fields };
  for (let position = 0; position + 4 <= extra.length;) {
    const id = extra.readUInt16LE(position);
    const length = extra.readUInt16LE(position + 2);
    const body = extra.subarray(position + 4, position + 4 + length);
    position += 4 + length;
    if (id !== 0x0001) continue;
    let at = 0;
    for (const key of ['declaredSize', 'compressedSize', 'localOffset'] as const) {
      if (fields[key] !== 0xffffffff) continue;
      if (at + 8 > body.length) throw corrupt('its zip64 sizes are damaged');
      result[key] = safeNumber(body.readBigUInt64LE(at));
      at += 8;
    }
  }
  return result;
}

function localDataOffset(zip: Buffer, localOffset: number, compressedSize: number): number {
  if (localOffset + 30 > zip.length || zip.readUInt32LE(localOffset) !== LOCAL_ENTRY) throw corrupt('an entry’s header is missing');
  const dataOffset = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
  if (dataOffset + compressedSize > zip.length) throw corrupt('an entry runs past the end of the file');
  return dataOffset;
}

function storedWithin(data: Buffer, room: number, budget: number): { size: number; chunks: Buffer[]; crc: number } {
  if (data.length > room) throw decompressionLimit(budget);
  return { size: data.length, chunks: [data], crc: crc32(data) };
}

function inflateWithin(
  data: Buffer,
  room: number,
  budget: number,
  keep: boolean,
): Promise<{ size: number; chunks: Buffer[]; crc: number }> {
  return new Promise((resolve, reject) => {
    const inflater = createInflateRaw({ chunkSize: 64 * 1024 });
    const chunks: Buffer[] = [];
    let size = 0;
    let crc = 0;
    let settled = false;
    const fail = (error: ProcessingFailure) => {
      if (settled) return;
      settled = true;
      inflater.destroy();
      reject(error);
    };
    inflater.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > room) return fail(decompressionLimit(budget));
      crc = crc32(chunk, crc);
      if (keep) chunks.push(chunk);
    });
    inflater.on('error', (error) => fail(corrupt(`an entry cannot be unpacked (${error.message})`)));
    inflater.on('end', () => {
      if (settled) return;
      settled = true;
      resolve({ size, chunks, crc });
    });
    inflater.end(data);
  });
}

function safeNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt('it declares impossible sizes');
  return Number(value);
}

function corrupt(why: string): ProcessingFailure {
  return new ProcessingFailure('CORRUPT_FILE', `The archive could not be read: ${why}`);
}

function tooManyEntries(maxEntries: number): ProcessingFailure {
  return new ProcessingFailure('DECOMPRESSION_LIMIT', `The archive holds more than ${maxEntries} files; it is stored but was not read`);
}

function decompressionLimit(maxBytes: number, why = `it unpacks to more than ${formatMb(maxBytes)}`): ProcessingFailure {
  return new ProcessingFailure('DECOMPRESSION_LIMIT', `The file was not read: ${why}, the most this service unpacks per file`);
}

function formatMb(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
}
