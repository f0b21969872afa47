import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** How the temporary file a write leaves behind when its process dies is named: `<target>.<random>.partial`. */
export const PARTIAL_SUFFIX = '.partial';
/** Lets several incoming chunks gather into one writev instead of one disk round trip each. */
const WRITE_BUFFER_BYTES = 1024 * 1024;

/** What was written: the file's length and the SHA-256 of its bytes, computed as they went by. */
export interface WrittenFile {
  size: number;
  sha256: string;
}

/**
 * Writes `source` to `target` so that a crash or power loss leaves either the whole file or none
 * under its name: the bytes go to a temporary name beside it, are flushed to disk (fsync), with
 * `expectSha256` compared with the SHA-256 computed while receiving, with `verify` read back and
 * compared with it, then renamed into place and the directory flushed. Once this resolves, the
 * file survives a power loss.
 */
export async function writeFileDurably(
  target: string,
  source: Readable,
  options: { verify?: boolean; expectSha256?: string } = {},
): Promise<WrittenFile> {
  const directory = dirname(target);
  await mkdir(directory, { recursive: true });
  const temporary = `${target}.${randomBytes(6).toString('hex')}${PARTIAL_SUFFIX}`;
  const hash = createHash('sha256');
  let size = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(source, measure, createWriteStream(temporary, { flags: 'wx', highWaterMark: WRITE_BUFFER_BYTES }));
    const sha256 = hash.digest('hex');
    await flushToDisk(temporary);
    if (options.expectSha256 !== undefined && sha256 !== options.expectSha256)
      throw new Error(`${target}: the bytes read are not the ones expected (checksum mismatch)`);
    if (options.verify && (await sha256Of(temporary)) !== sha256) throw new Error(`Checksum mismatch after writing ${target}`);
    await rename(temporary, target);
    await flushToDisk(directory);
    return { size, sha256 };
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** fsync: the bytes (or, for a directory, its entries: a rename) survive a power loss once this resolves. */
export async function flushToDisk(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}
