import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import mongoose from 'mongoose';
import { AttachmentStorage, ByteRange, StoredFile, StoredFileMissingError, ownerDirectory } from './attachment-storage.js';

export const GRIDFS_BUCKET = 'chat_attachment_files';
/** GridFS's default chunk size. */
const CHUNK_SIZE = 255 * 1024;
/** Chunks fetched per round trip when reading. */
const READ_BATCH_CHUNKS = 8;
/** Chunk inserts awaiting acknowledgement at once while writing. */
const WRITES_IN_FLIGHT = 4;
/** Files looked up per round trip when removing all of an owner's. */
const REMOVE_BATCH = 100;

/**
 * Files inside MongoDB in the GridFS layout (bucket `chat_attachment_files`), so several instances
 * share them without a shared disk and any GridFS tool can read them. The GridFS filename is the
 * storage key; a file becomes visible when its files document is written, after every chunk is
 * acknowledged. The SHA-256 is computed from the bytes as they are written. Migration 0006
 * creates the GridFS indexes (this writer does not go through the driver's upload stream, which
 * would create them).
 */
export class GridFsAttachmentStorage implements AttachmentStorage {
  readonly driver = 'gridfs';
  private collections?: {
    bucket: mongoose.mongo.GridFSBucket;
    chunks: mongoose.mongo.Collection<{ files_id: mongoose.mongo.ObjectId; n: number; data: mongoose.mongo.Binary }>;
    files: mongoose.mongo.Collection<mongoose.mongo.GridFSFile>;
  };

  /** `db` is asked on first use: the app boots before the database connection is open. */
  constructor(private readonly db: () => mongoose.mongo.Db) {}

  private get bucket() {
    return this.open().bucket;
  }

  private get chunks() {
    return this.open().chunks;
  }

  private get files() {
    return this.open().files;
  }

  private open() {
    if (!this.collections) {
      const db = this.db();
      this.collections = {
        bucket: new mongoose.mongo.GridFSBucket(db, { bucketName: GRIDFS_BUCKET }),
        chunks: db.collection(`${GRIDFS_BUCKET}.chunks`),
        files: db.collection(`${GRIDFS_BUCKET}.files`),
      };
    }
    return this.collections;
  }

  /**
   * Writes the chunks (a few in flight at once), then the files document that makes the file
   * visible. On failure it waits for the writes in flight before removing the chunks, so none is
   * left behind (the driver's upload stream can let one land after its abort).
   */
  async write(key: string, source: Readable, owner: string): Promise<StoredFile> {
    await this.remove(key);
    const id = new mongoose.mongo.ObjectId();
    const hash = createHash('sha256');
    const inFlight = new Set<Promise<unknown>>();
    let size = 0;
    let n = 0;
    let buffered: Buffer[] = [];
    let bufferedBytes = 0;
    const put = async (data: Buffer) => {
      const insert = this.chunks.insertOne({ files_id: id, n: n++, data: new mongoose.mongo.Binary(data) });
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
        while (bufferedBytes >= CHUNK_SIZE) {
          const joined = Buffer.concat(buffered, bufferedBytes);
          await put(joined.subarray(0, CHUNK_SIZE));
          buffered = [joined.subarray(CHUNK_SIZE)];
          bufferedBytes -= CHUNK_SIZE;
        }
      }
      if (bufferedBytes > 0) await put(Buffer.concat(buffered, bufferedBytes));
      await Promise.all(inFlight);
      await this.files.insertOne({
        _id: id,
        length: size,
        chunkSize: CHUNK_SIZE,
        uploadDate: new Date(),
        filename: key,
        metadata: { userId: owner },
      });
      return { size, sha256: hash.digest('hex') };
    } catch (error) {
      await Promise.allSettled(inFlight);
      await this.chunks.deleteMany({ files_id: id });
      throw error;
    }
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

  /**
   * Files naming the owner in `metadata.userId` (every file this driver writes), and files under
   * the owner's key prefix (in case one was written without it), in batches until none is left.
   */
  async removeOwnedBy(ownerId: string): Promise<number> {
    const filter = { $or: [{ 'metadata.userId': ownerId }, { filename: { $regex: `^${ownerDirectory(ownerId)}/` } }] };
    let removed = 0;
    for (;;) {
      const batch = await this.files
        .find(filter, { projection: { _id: 1 } })
        .limit(REMOVE_BATCH)
        .toArray();
      if (batch.length === 0) return removed;
      for (const file of batch) {
        await this.bucket.delete(file._id).catch((error: unknown) => {
          if (!(error instanceof mongoose.mongo.MongoRuntimeError)) throw error;
        });
        removed += 1;
      }
    }
  }

  private async find(key: string): Promise<mongoose.mongo.GridFSFile | null> {
    return (await this.bucket.find({ filename: key }).sort({ uploadDate: -1 }).limit(1).toArray())[0] ?? null;
  }
}
