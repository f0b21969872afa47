import { Readable } from 'node:stream';
import mongoose from 'mongoose';
import { GRIDFS_CHUNK_SIZE, type GridFsChunk, readGridFsRange, writeGridFsFile } from '../../../common/storage/gridfs-chunks.js';
import { ArchiveMissingError, ArchiveRef, ArchiveStore, StoredArchive, archiveKey } from './archive-store.js';

export const DATA_EXPORT_FILES_BUCKET = 'chat_data_export_files';

type FilesDocument = mongoose.mongo.GridFSFile & { metadata: { owner: string } };

/**
 * Archives inside MongoDB in the GridFS layout (bucket `chat_data_export_files`), for
 * ATTACHMENT_STORAGE=gridfs. The GridFS file id is the export's id, so a rerun finds and replaces
 * whatever an interrupted run left, chunks included; the file becomes visible when its files
 * document is written, after every chunk is acknowledged. `metadata.owner` is the archive's owner
 * (a keyed hash, never the id itself), by which erasure finds a user's archives.
 */
export class GridFsArchiveStore implements ArchiveStore {
  readonly driver = 'gridfs';

  /** `db` is asked on first use: the app boots before the database connection is open. */
  constructor(private readonly db: () => mongoose.mongo.Db) {}

  private get chunks(): mongoose.mongo.Collection<GridFsChunk> {
    return this.db().collection<GridFsChunk>(`${DATA_EXPORT_FILES_BUCKET}.chunks`);
  }

  private get files(): mongoose.mongo.Collection<FilesDocument> {
    return this.db().collection<FilesDocument>(`${DATA_EXPORT_FILES_BUCKET}.files`);
  }

  async write(ref: ArchiveRef, source: Readable): Promise<StoredArchive> {
    const key = archiveKey(ref);
    const id = new mongoose.mongo.ObjectId(ref.exportId);
    await this.remove(ref);
    const { size, sha256 } = await writeGridFsFile(this.chunks, id, source, ({ size }) =>
      this.files.insertOne({
        _id: id,
        length: size,
        chunkSize: GRIDFS_CHUNK_SIZE,
        uploadDate: new Date(),
        filename: key,
        metadata: { owner: ref.owner },
      }),
    );
    return { driver: this.driver, key, size, sha256 };
  }

  /** Reads the chunks in small batches (see readGridFsRange). */
  async read(ref: ArchiveRef): Promise<Readable> {
    const file = await this.files.findOne({ _id: new mongoose.mongo.ObjectId(ref.exportId) });
    if (!file) throw new ArchiveMissingError(archiveKey(ref));
    return readGridFsRange(this.chunks, file, `Export archive ${file.filename}`);
  }

  /** The files document goes first (the archive stops being visible), then its chunks. */
  async remove(ref: ArchiveRef): Promise<void> {
    const id = new mongoose.mongo.ObjectId(ref.exportId);
    await this.files.deleteOne({ _id: id });
    await this.chunks.deleteMany({ files_id: id });
  }

  async removeAllOf(owner: string): Promise<number> {
    let removed = 0;
    const owned = this.files.find({ 'metadata.owner': owner }, { projection: { _id: 1 } });
    for await (const file of owned) {
      await this.remove({ exportId: file._id.toHexString(), owner });
      removed += 1;
    }
    return removed;
  }

  countOf(owner: string): Promise<number> {
    return this.files.countDocuments({ 'metadata.owner': owner });
  }
}
