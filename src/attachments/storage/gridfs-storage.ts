import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import mongoose from 'mongoose';
import { AttachmentStorage, ByteRange, StoredFile, StoredFileMissingError } from './attachment-storage.js';

export const GRIDFS_BUCKET = 'chat_attachment_files';
/** Chunks (255 KiB each) fetched per round trip when reading. */
const READ_BATCH_CHUNKS = 8;

/**
 * Files inside MongoDB (GridFS), so several instances share them without a shared disk. The
 * GridFS filename is the storage key; a file becomes visible when its files document is written,
 * which the driver does after the last chunk, every chunk write acknowledged. An aborted upload
 * has its chunks removed. The SHA-256 is computed from the bytes as they are written.
 */
export class GridFsAttachmentStorage implements AttachmentStorage {
  readonly driver = 'gridfs';
  private readonly bucket: mongoose.mongo.GridFSBucket;
  private readonly chunks: mongoose.mongo.Collection<{ files_id: unknown; n: number; data: mongoose.mongo.Binary }>;

  constructor(db: mongoose.mongo.Db) {
    this.bucket = new mongoose.mongo.GridFSBucket(db, { bucketName: GRIDFS_BUCKET });
    this.chunks = db.collection(`${GRIDFS_BUCKET}.chunks`);
  }

  async write(key: string, source: Readable, owner: string): Promise<StoredFile> {
    await this.remove(key);
    const hash = createHash('sha256');
    let size = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const upload = this.bucket.openUploadStream(key, { metadata: { userId: owner } });
    try {
      await pipeline(source, measure, upload);
    } catch (error) {
      await upload.abort().catch(() => undefined);
      throw error;
    }
    return { size, sha256: hash.digest('hex') };
  }

  /**
   * Reads the chunks of the range in small batches. (The driver's download stream lets the server
   * choose batch sizes; the embedded store then returns a whole file in one batch.)
   */
  async read(key: string, range?: ByteRange): Promise<Readable> {
    const file = await this.find(key);
    if (!file) throw new StoredFileMissingError(key);
    const start = range?.start ?? 0;
    const end = range?.end ?? file.length - 1;
    if (file.length === 0 || end < start) return Readable.from([], { objectMode: false });
    const first = Math.floor(start / file.chunkSize);
    const last = Math.floor(end / file.chunkSize);
    const cursor = this.chunks
      .find({ files_id: file._id, n: { $gte: first, $lte: last } }, { projection: { n: 1, data: 1 } })
      .sort({ n: 1 })
      .batchSize(READ_BATCH_CHUNKS);
    async function* slices(): AsyncGenerator<Buffer> {
      let expected = first;
      for await (const chunk of cursor) {
        if (chunk.n !== expected) throw new Error(`GridFS file ${key} is missing chunk ${expected}`);
        const data = Buffer.from(chunk.data.buffer);
        const offset = chunk.n * file!.chunkSize;
        yield data.subarray(Math.max(0, start - offset), Math.min(data.length, end - offset + 1));
        expected += 1;
      }
      if (expected !== last + 1) throw new Error(`GridFS file ${key} is missing chunk ${expected}`);
    }
    return Readable.from(slices(), { objectMode: false });
  }

  async remove(key: string): Promise<void> {
    for await (const file of this.bucket.find({ filename: key }, { projection: { _id: 1 } })) {
      await this.bucket.delete(file._id).catch((error: unknown) => {
        if (!(error instanceof mongoose.mongo.MongoRuntimeError)) throw error;
      });
    }
  }

  private async find(key: string): Promise<mongoose.mongo.GridFSFile | null> {
    return (await this.bucket.find({ filename: key }).sort({ uploadDate: -1 }).limit(1).toArray())[0] ?? null;
  }
}
