import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import mongoose from 'mongoose';

/** GridFS's default chunk size. */
export const GRIDFS_CHUNK_SIZE = 255 * 1024;
/** Chunks fetched per round trip when reading. */
const READ_BATCH_CHUNKS = 8;
/** Chunk inserts awaiting acknowledgement at once while writing. */
const WRITES_IN_FLIGHT = 4;

export type GridFsChunk = { files_id: mongoose.mongo.ObjectId; n: number; data: mongoose.mongo.Binary };

/** What was written: the file's length and the SHA-256 of its bytes, computed as they went by. */
export interface WrittenChunks {
  size: number;
  sha256: string;
}

/**
 * Writes `source` as the GridFS chunks of file `id` (a few inserts in flight at once), then calls
 * `publish` to write the files document that makes the file visible. On any failure, publishing
 * included, it waits for the inserts in flight before removing the chunks, so none is left behind
 * (the driver's own upload stream can let one land after its abort), and rethrows.
 */
export async function writeGridFsFile(
  chunks: mongoose.mongo.Collection<GridFsChunk>,
  id: mongoose.mongo.ObjectId,
  source: Readable,
  publish: (written: WrittenChunks) => Promise<unknown>,
): Promise<WrittenChunks> {
  const hash = createHash('sha256');
  const inFlight = new Set<Promise<unknown>>();
  let size = 0;
  let n = 0;
  let buffered: Buffer[] = [];
  let bufferedBytes = 0;
  const put = async (data: Buffer) => {
    const insert = chunks.insertOne({ files_id: id, n: n++, data: new mongoose.mongo.Binary(data) });
    inFlight.add(insert);
    void insert.finally(() => inFlight.delete(insert)).catch(() => undefined);
    if (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
  };
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      buffered.push(chunk);
      bufferedBytes += chunk.length;
      while (bufferedBytes >= GRIDFS_CHUNK_SIZE) {
        const joined = Buffer.concat(buffered, bufferedBytes);
        await put(joined.subarray(0, GRIDFS_CHUNK_SIZE));
        buffered = [joined.subarray(GRIDFS_CHUNK_SIZE)];
        bufferedBytes -= GRIDFS_CHUNK_SIZE;
      }
    }
    if (bufferedBytes > 0) await put(Buffer.concat(buffered, bufferedBytes));
    await Promise.all(inFlight);
    const written = { size, sha256: hash.digest('hex') };
    await publish(written);
    return written;
  } catch (error) {
    await Promise.allSettled(inFlight);
    await chunks.deleteMany({ files_id: id });
    throw error;
  }
}

/**
 * Reads bytes `start..end` (inclusive) of a GridFS file from its chunks, in small batches (the
 * driver's download stream lets the server choose batch sizes, and the embedded store then answers
 * a whole file in one). A missing chunk ends the stream with an error naming `label`.
 */
export function readGridFsRange(
  chunks: mongoose.mongo.Collection<GridFsChunk>,
  file: Pick<mongoose.mongo.GridFSFile, '_id' | 'length' | 'chunkSize'>,
  label: string,
  range: { start: number; end: number } = { start: 0, end: file.length - 1 },
): Readable {
  const { start, end } = range;
  if (file.length === 0 || end < start) return Readable.from([], { objectMode: false });
  const first = Math.floor(start / file.chunkSize);
  const last = Math.floor(end / file.chunkSize);
  const cursor = chunks
    .find({ files_id: file._id, n: { $gte: first, $lte: last } }, { projection: { n: 1, data: 1 } })
    .sort({ n: 1 })
    .batchSize(READ_BATCH_CHUNKS);
  async function* slices(): AsyncGenerator<Buffer> {
    let expected = first;
    for await (const chunk of cursor) {
      if (chunk.n !== expected) throw new Error(`${label} is missing chunk ${expected}`);
      const data = Buffer.from(chunk.data.buffer);
      const offset = chunk.n * file.chunkSize;
      yield data.subarray(Math.max(0, start - offset), Math.min(data.length, end - offset + 1));
      expected += 1;
    }
    if (expected !== last + 1) throw new Error(`${label} is missing chunk ${expected}`);
  }
  return Readable.from(slices(), { objectMode: false });
}
