import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import mongoose from 'mongoose';
import { ArchiveMissingError, ArchiveRef, ArchiveStore, StoredArchive, archiveKey, subjectDirectory } from './archive-store.js';

export const DATA_EXPORT_FILES_BUCKET = 'chat_data_export_files';
/** GridFS's default chunk size. */
const CHUNK_SIZE = 255 * 1024;
/** Chunks fetched per round trip when reading. */
const READ_BATCH_CHUNKS = 8;
/** Chunk inserts awaiting acknowledgement at once while writing. */
const WRITES_IN_FLIGHT = 4;

type Chunk = { files_id: mongoose.mongo.ObjectId; n: number; data: mongoose.mongo.Binary };
type FilesDocument = mongoose.mongo.GridFSFile & { metadata: { owner: string } };

/**
 * Archives inside MongoDB in the GridFS layout (bucket `chat_data_export_files`), for
 * ATTACHMENT_STORAGE=gridfs. The GridFS file id is the export's id, so a rerun finds and replaces
 * whatever an interrupted run left, chunks included; the file becomes visible when its files
 * document is written, after every chunk is acknowledged. `metadata.owner` is the subject's
 * directory hash (never the id itself), by which erasure finds a user's archives.
 */
export class GridFsArchiveStore implements ArchiveStore {
  readonly driver = 'gridfs';

  /** `db` is asked on first use: the app boots before the database connection is open. */
  constructor(private readonly db: () => mongoose.mongo.Db) {}

  private get chunks(): mongoose.mongo.Collection<Chunk> {
    return this.db().collection<Chunk>(`${DATA_EXPORT_FILES_BUCKET}.chunks`);
  }

  private get files(): mongoose.mongo.Collection<FilesDocument> {
    return this.db().collection<FilesDocument>(`${DATA_EXPORT_FILES_BUCKET}.files`);
  }

  async write(ref: ArchiveRef, source: Readable): Promise<StoredArchive> {
    const key = archiveKey(ref);
    const id = new mongoose.mongo.ObjectId(ref.exportId);
    await this.remove(ref);
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
        metadata: { owner: subjectDirectory(ref.subjectUserId) },
      });
      return { driver: this.driver, key, size, sha256: hash.digest('hex') };
    } catch (error) {
      // The chunk writes in flight land before the cleanup, so none is left behind.
      await Promise.allSettled(inFlight);
      await this.chunks.deleteMany({ files_id: id });
      throw error;
    }
  }

  /** Reads the chunks in small batches (the embedded store would otherwise answer a whole file in one). */
  async read(ref: ArchiveRef): Promise<Readable> {
    const id = new mongoose.mongo.ObjectId(ref.exportId);
    const file = await this.files.findOne({ _id: id });
    if (!file) throw new ArchiveMissingError(archiveKey(ref));
    const expectedChunks = Math.ceil(file.length / file.chunkSize);
    const cursor = this.chunks
      .find({ files_id: id }, { projection: { n: 1, data: 1 } })
      .sort({ n: 1 })
      .batchSize(READ_BATCH_CHUNKS);
    async function* chunks(): AsyncGenerator<Buffer> {
      let expected = 0;
      for await (const chunk of cursor) {
        if (chunk.n !== expected) throw new Error(`Export archive ${file!.filename} is missing chunk ${expected}`);
        yield Buffer.from(chunk.data.buffer);
        expected += 1;
      }
      if (expected !== expectedChunks) throw new Error(`Export archive ${file!.filename} is missing chunk ${expected}`);
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  /** The files document goes first (the archive stops being visible), then its chunks. */
  async remove(ref: ArchiveRef): Promise<void> {
    const id = new mongoose.mongo.ObjectId(ref.exportId);
    await this.files.deleteOne({ _id: id });
    await this.chunks.deleteMany({ files_id: id });
  }

  async removeAllOf(subjectUserId: string): Promise<number> {
    let removed = 0;
    const owned = this.files.find({ 'metadata.owner': subjectDirectory(subjectUserId) }, { projection: { _id: 1 } });
    for await (const file of owned) {
      await this.remove({ exportId: file._id.toHexString(), subjectUserId });
      removed += 1;
    }
    return removed;
  }

  countOf(subjectUserId: string): Promise<number> {
    return this.files.countDocuments({ 'metadata.owner': subjectDirectory(subjectUserId) });
  }
}
