import { Readable } from 'node:stream';
import mongoose from 'mongoose';
import { GRIDFS_CHUNK_SIZE, type GridFsChunk, readGridFsRange, writeGridFsFile } from '../../common/storage/gridfs-chunks.js';
import { rewriteInBatches } from '../../common/user-data/batches.js';
import { AttachmentStorage, ByteRange, StoredFile, StoredFileMissingError, ownerDirectory } from './attachment-storage.js';

export const GRIDFS_BUCKET = 'chat_attachment_files';
/** Files looked up per round trip when removing all of an owner's. */
const REMOVE_BATCH = 100;
/** How GridFSBucket.delete's error begins when there was no files document to delete. */
const FILE_NOT_FOUND = 'File not found';

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
    chunks: mongoose.mongo.Collection<GridFsChunk>;
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
    return writeGridFsFile(this.chunks, id, source, ({ size }) =>
      this.files.insertOne({
        _id: id,
        length: size,
        chunkSize: GRIDFS_CHUNK_SIZE,
        uploadDate: new Date(),
        filename: key,
        metadata: { userId: owner },
      }),
    );
  }

  /** Reads the chunks of the range in small batches (see readGridFsRange). */
  async read(key: string, range?: ByteRange): Promise<Readable> {
    const file = await this.find(key);
    if (!file) throw new StoredFileMissingError(key);
    return readGridFsRange(this.chunks, file, `GridFS file ${key}`, { start: range?.start ?? 0, end: range?.end ?? file.length - 1 });
  }

  async remove(key: string): Promise<void> {
    for await (const file of this.bucket.find({ filename: key }, { projection: { _id: 1 } })) await this.deleteFile(file._id);
  }

  /**
   * Files naming the owner in `metadata.userId` (every file this driver writes), and files under
   * the owner's key prefix (in case one was written without it), in batches until none is left.
   * Answers the files this call deleted: one another remover took first is not counted. Batches
   * that delete nothing several times in a row (a files document that will not go) end in an
   * error instead of a loop (see rewriteInBatches).
   */
  removeOwnedBy(ownerId: string): Promise<number> {
    const filter = { $or: [{ 'metadata.userId': ownerId }, { filename: { $regex: `^${ownerDirectory(ownerId)}/` } }] };
    return rewriteInBatches(
      () =>
        this.files
          .find(filter, { projection: { _id: 1 } })
          .limit(REMOVE_BATCH)
          .toArray(),
      async (batch) => {
        let deleted = 0;
        for (const file of batch) if (await this.deleteFile(file._id)) deleted += 1;
        return deleted;
      },
    );
  }

  /**
   * Deletes a file's files document and chunks; false when the files document was not there to
   * delete (the driver then deletes the chunks all the same and throws "File not found").
   */
  private async deleteFile(id: mongoose.mongo.ObjectId): Promise<boolean> {
    try {
      await this.bucket.delete(id);
      return true;
    } catch (error) {
      if (error instanceof mongoose.mongo.MongoRuntimeError && error.message.startsWith(FILE_NOT_FOUND)) return false;
      throw error;
    }
  }

  private async find(key: string): Promise<mongoose.mongo.GridFSFile | null> {
    return (await this.bucket.find({ filename: key }).sort({ uploadDate: -1 }).limit(1).toArray())[0] ?? null;
  }
}
