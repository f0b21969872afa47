import { fileTypeFromBuffer } from 'file-type';
import type { FileType } from '../schemas/attachment.schema.js';

/** What a file is, decided from its bytes. */
export interface SniffedType {
  fileType: FileType;
  mimeType: string;
  /** Canonical extension of the type. */
  extension: string;
}

interface AllowedType extends SniffedType {
  /** Extensions a client may name such a file with. */
  acceptedExtensions: readonly string[];
}

const allowed = (fileType: FileType, extension: string, mimeType: string, acceptedExtensions: string[] = [extension]): AllowedType => ({
  fileType,
  extension,
  mimeType,
  acceptedExtensions,
});

/** The allow-list for types recognised by magic numbers, keyed by file-type's extension. */
const BINARY_TYPES: Record<string, AllowedType> = {
  png: allowed('image', 'png', 'image/png'),
  jpg: allowed('image', 'jpg', 'image/jpeg', ['jpg', 'jpeg', 'jpe']),
  gif: allowed('image', 'gif', 'image/gif'),
  webp: allowed('image', 'webp', 'image/webp'),
  pdf: allowed('document', 'pdf', 'application/pdf'),
  docx: allowed('document', 'docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'),
  xlsx: allowed('document', 'xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'),
  mp3: allowed('audio', 'mp3', 'audio/mpeg'),
  wav: allowed('audio', 'wav', 'audio/wav'),
  ogg: allowed('audio', 'ogg', 'audio/ogg', ['ogg', 'oga', 'opus']),
  oga: allowed('audio', 'ogg', 'audio/ogg', ['ogg', 'oga', 'opus']),
  opus: allowed('audio', 'ogg', 'audio/ogg', ['ogg', 'oga', 'opus']),
  m4a: allowed('audio', 'm4a', 'audio/mp4', ['m4a']),
  mp4: allowed('video', 'mp4', 'video/mp4', ['mp4', 'm4v']),
  webm: allowed('video', 'webm', 'video/webm'),
};

/** Text formats have no magic number: they are recognised as valid UTF-8 without markup, by extension. */
const TEXT_TYPES: Record<string, AllowedType> = {
  txt: allowed('document', 'txt', 'text/plain', ['txt', 'text', 'log']),
  md: allowed('document', 'md', 'text/markdown', ['md', 'markdown']),
  csv: allowed('document', 'csv', 'text/csv', ['csv']),
  json: allowed('document', 'json', 'application/json', ['json']),
};

/** Types a browser can render inline without running anything; everything else downloads. */
const INLINE_SAFE_MIME_TYPES = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'audio/mpeg',
  'audio/wav',
  'audio/ogg',
  'audio/mp4',
  'video/mp4',
  'video/webm',
]);

/** Bytes looked at to decide a type; OOXML (docx, xlsx) needs a look into the zip directory. */
export const SNIFF_BYTES = 64 * 1024;

export const ALLOWED_EXTENSIONS = [
  ...new Set([...Object.values(BINARY_TYPES), ...Object.values(TEXT_TYPES)].flatMap((t) => t.acceptedExtensions)),
].sort();

/** Every type a stored file can have, so every Content-Type its download can carry (see servedContentType). */
export const ACCEPTED_MIME_TYPES = [
  ...new Set([...Object.values(BINARY_TYPES), ...Object.values(TEXT_TYPES)].map((t) => t.mimeType)),
].sort();

export class FileTypeRefusedError extends Error {
  constructor(
    message: string,
    readonly detected: string | null,
  ) {
    super(message);
  }
}

/**
 * Decides what a file is from its first bytes and checks the decision against the allow-list and
 * against the name the client gave it. Throws FileTypeRefusedError for anything not allowed, for
 * markup (HTML, SVG, XML), and for a name whose extension says something else than the bytes.
 */
export async function sniffFileType(head: Uint8Array, fileName: string): Promise<SniffedType> {
  const extension = extensionOf(fileName);
  const detected = await fileTypeFromBuffer(head);
  if (detected) {
    const type = BINARY_TYPES[detected.ext];
    if (!type) throw new FileTypeRefusedError(`Files of type ${detected.mime} are not accepted`, detected.mime);
    assertExtension(type, extension, detected.mime);
    return { fileType: type.fileType, mimeType: type.mimeType, extension: type.extension };
  }
  if (head.length === 0) {
    // Nothing to sniff: named as text, it is an empty text file (processing marks it failed).
    const type = extension === undefined ? undefined : TEXT_TYPES[textTypeKey(extension) ?? ''];
    if (!type) throw new FileTypeRefusedError('The file is empty and its name does not say it is text', null);
    return { fileType: type.fileType, mimeType: type.mimeType, extension: type.extension };
  }
  const markup = textRefusal(head);
  if (markup) throw new FileTypeRefusedError(markup, null);
  const key = extension === undefined ? 'txt' : textTypeKey(extension);
  if (!key) {
    throw new FileTypeRefusedError(`The content is plain text, which does not match the extension .${extension}`, 'text/plain');
  }
  const type = TEXT_TYPES[key]!;
  if (type.extension === 'json' && !/^(\uFEFF)?\s*[[{"]/.test(new TextDecoder().decode(head.subarray(0, 64)))) {
    throw new FileTypeRefusedError('The content is not JSON', 'text/plain');
  }
  return { fileType: type.fileType, mimeType: type.mimeType, extension: type.extension };
}

export function isInlineSafe(mimeType: string): boolean {
  return INLINE_SAFE_MIME_TYPES.has(mimeType);
}

/** The Content-Type to serve a stored file with. */
export function servedContentType(mimeType: string): string {
  return mimeType.startsWith('text/') || mimeType === 'application/json' ? `${mimeType}; charset=utf-8` : mimeType;
}

function assertExtension(type: AllowedType, extension: string | undefined, detectedMime: string): void {
  if (extension !== undefined && !type.acceptedExtensions.includes(extension)) {
    throw new FileTypeRefusedError(`The content is ${detectedMime}, which does not match the extension .${extension}`, detectedMime);
  }
}

function textTypeKey(extension: string): string | undefined {
  return Object.keys(TEXT_TYPES).find((key) => TEXT_TYPES[key]!.acceptedExtensions.includes(extension));
}

/** Why bytes that no magic number recognised cannot be accepted as text, if they cannot. */
function textRefusal(head: Uint8Array): string | undefined {
  if (head.includes(0)) return 'Binary files of this type are not accepted';
  let text: string;
  try {
    // A multi-byte character may be cut at the end of the sample: leave its bytes out.
    text = new TextDecoder('utf-8', { fatal: true }).decode(trimIncompleteUtf8(head));
  } catch {
    return 'Text files must be UTF-8';
  }
  const start = text
    .replace(/^\uFEFF/, '')
    .trimStart()
    .slice(0, 1024)
    .toLowerCase();
  if (
    /^<(!doctype|html|head|body|script|svg|\?xml|iframe|object)\b/.test(start) ||
    /<(script|svg|html|iframe)[\s>/]/.test(text.toLowerCase())
  ) {
    return 'HTML, SVG and XML files are not accepted';
  }
  return undefined;
}

function trimIncompleteUtf8(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  // Walk back over continuation bytes to the start of the last character.
  let i = end - 1;
  while (i >= 0 && i >= end - 4 && (bytes[i]! & 0xc0) === 0x80) i -= 1;
  if (i < 0) return bytes;
  const lead = bytes[i]!;
  const needed = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  if (end - i < needed) end = i;
  return bytes.subarray(0, end);
}

function extensionOf(fileName: string): string | undefined {
  const match = /\.([A-Za-z0-9]{1,10})$/.exec(fileName);
  return match ? match[1]!.toLowerCase() : undefined;
}

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
const MAX_NAME_LENGTH = 200;

/**
 * A display-safe file name: no path, no control or bidi-override characters, no characters
 * that are special in file systems or headers, no reserved device names, bounded length (the
 * extension is kept), and the canonical extension of the sniffed type when the name had none.
 */
export function sanitizeFileName(raw: string | undefined, canonicalExtension: string): string {
  let name = (raw ?? '').normalize('NFC');
  name = name.split(/[/\\]/).pop() ?? '';
  name = name
    // eslint-disable-next-line no-control-regex -- removing control characters is the point
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '')
    .replace(/[<>:"|?*]/g, '_')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '');
  if (WINDOWS_RESERVED.test(name)) name = `_${name}`;
  if (name === '') name = 'file';
  if (extensionOf(name) === undefined) name = `${name}.${canonicalExtension}`;
  if ([...name].length > MAX_NAME_LENGTH) {
    const dot = name.lastIndexOf('.');
    const ext = name.slice(dot);
    name = [...name.slice(0, dot)].slice(0, MAX_NAME_LENGTH - [...ext].length).join('') + ext;
  }
  return name;
}
