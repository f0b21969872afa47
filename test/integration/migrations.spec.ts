import { randomBytes } from 'node:crypto';
import mongoose from 'mongoose';
import { MIGRATIONS } from '../../migrations/index.js';
import type { Db, Migration } from '../../src/database/migrations/migration.js';
import { LEASES_COLLECTION } from '../../src/common/jobs/lease.js';
import { CHANGELOG_COLLECTION, MigrationRunner } from '../../src/database/migrations/migration-runner.js';

/** The ids of every migration from `first` on, in order: what a store migrated up to just before `first` applies next. */
function idsFrom(first: string): string[] {
  return MIGRATIONS.map((migration) => migration.id).filter((id) => id >= first);
}

describe('MigrationRunner', () => {
  let client: mongoose.mongo.MongoClient;
  let db: Db;

  beforeAll(async () => {
    client = await new mongoose.mongo.MongoClient(process.env.TEST_MONGODB_URI!).connect();
  });
  beforeEach(() => {
    db = client.db(`migrations_${randomBytes(5).toString('hex')}`);
  });
  afterEach(() => db.dropDatabase());
  afterAll(() => client.close());

  function recording(id: string, log: string[]): Migration {
    return {
      id,
      description: `test ${id}`,
      up: async () => {
        log.push(`up ${id}`);
        await new Promise((wake) => setTimeout(wake, 50));
      },
      down: () => {
        log.push(`down ${id}`);
        return Promise.resolve();
      },
    };
  }

  it('creates the chat collections, their indexes and the unique seq index', async () => {
    await new MigrationRunner(db, MIGRATIONS).up();
    const collections = (await db.listCollections().toArray()).map((collection) => collection.name);
    expect(collections).toEqual(expect.arrayContaining(['chat_conversations', 'chat_messages', CHANGELOG_COLLECTION]));
    const indexes = await db.collection('chat_messages').listIndexes().toArray();
    expect(indexes.find((index) => index.name === 'conversationId_seq')).toMatchObject({ unique: true });

    const conversationId = new mongoose.Types.ObjectId();
    await db.collection('chat_messages').insertOne({ conversationId, seq: 1 });
    await expect(db.collection('chat_messages').insertOne({ conversationId, seq: 1 })).rejects.toMatchObject({ code: 11000 });
  });

  it('creates the job collections and the count repair index, and drops the old migrations lock collection', async () => {
    await new MigrationRunner(
      db,
      MIGRATIONS.filter((migration) => migration.id < '0008'),
    ).up();
    await db.collection('migrations_lock').insertOne({ _id: 'left-over' } as never);
    expect(await new MigrationRunner(db, MIGRATIONS).up()).toEqual(idsFrom('0008'));
    const collections = (await db.listCollections().toArray()).map((collection) => collection.name);
    expect(collections).toEqual(expect.arrayContaining([LEASES_COLLECTION, 'chat_job_runs']));
    expect(collections).not.toContain('migrations_lock');
    const runIndexes = (await db.collection('chat_job_runs').listIndexes().toArray()).map((index) => index.name);
    expect(runIndexes).toEqual(expect.arrayContaining(['job_status_startedAt', 'job_startedAt']));
    const conversationIndexes = await db.collection('chat_conversations').listIndexes().toArray();
    expect(conversationIndexes.find((index) => index.name === 'updatedAt_id')).toMatchObject({ key: { updatedAt: 1, _id: 1 } });
  });

  it('creates the indexes of retention and erasure', async () => {
    await new MigrationRunner(db, MIGRATIONS).up();
    const indexes = async (collection: string) =>
      Object.fromEntries((await db.collection(collection).listIndexes().toArray()).map((index) => [index.name, index.key]));
    expect(await indexes('chat_conversations')).toMatchObject({
      lastActivityAt: { lastActivityAt: 1 },
      status_deletedAt: { status: 1, deletedAt: 1 },
    });
    expect(await indexes('chat_message_feedback')).toMatchObject({ conversationId: { conversationId: 1 } });
    expect(await indexes('chat_attachment_files.files')).toMatchObject({ metadata_userId: { 'metadata.userId': 1 } });
  });

  it('backfills search terms of data written before search existed, reporting progress', async () => {
    const before = MIGRATIONS.filter((migration) => migration.id < '0005');
    await new MigrationRunner(db, before).up();
    const conversationId = new mongoose.Types.ObjectId();
    await db.collection('chat_conversations').insertOne({ _id: conversationId, userId: 'old', title: 'Picking wave' });
    await db
      .collection('chat_messages')
      .insertMany(
        Array.from({ length: 1200 }, (_, i) => ({ conversationId, userId: 'old', seq: i + 1, content: `Damaged tote number ${i}` })),
      );
    await db
      .collection('chat_attachments')
      .insertOne({ userId: 'old', originalName: 'Forklift-manual.pdf', extractedText: 'Battery charging' });

    const log: string[] = [];
    expect(await new MigrationRunner(db, MIGRATIONS, { log: (line) => log.push(line) }).up()).toEqual(idsFrom('0005'));
    expect(await db.collection('chat_messages').countDocuments({ searchTerms: { $exists: false } })).toBe(0);
    expect(await db.collection('chat_messages').findOne({ seq: 7 })).toMatchObject({
      searchTerms: ['damag', 'tote', 'damag tote', 'number', 'tote number', '6', 'number 6'],
      searchTermsVersion: 2,
    });
    expect(await db.collection('chat_conversations').findOne({ _id: conversationId })).toMatchObject({
      titleTerms: ['pick', 'wave', 'pick wave'],
    });
    expect(await db.collection('chat_attachments').findOne({ userId: 'old' })).toMatchObject({
      searchTerms: ['forklift', 'manual', 'forklift manual', 'batteri', 'manual batteri', 'charg', 'batteri charg'],
    });
    expect(log).toEqual(expect.arrayContaining(['0005-search-terms: chat_messages.searchTerms: 1200 documents indexed']));
  });

  it('re-indexes terms made by an older term format, and only those', async () => {
    await new MigrationRunner(
      db,
      MIGRATIONS.filter((migration) => migration.id < '0007'),
    ).up();
    const conversationId = new mongoose.Types.ObjectId();
    await db.collection('chat_messages').insertMany([
      { conversationId, userId: 'old', seq: 1, content: 'red tote', searchTerms: ['red', 'tote'] },
      { conversationId, userId: 'old', seq: 2, content: 'blue bin', searchTerms: ['current'], searchTermsVersion: 2 },
    ]);
    const log: string[] = [];
    expect(await new MigrationRunner(db, MIGRATIONS, { log: (line) => log.push(line) }).up()).toEqual(idsFrom('0007'));
    expect(await db.collection('chat_messages').findOne({ seq: 1 })).toMatchObject({
      searchTerms: ['red', 'tote', 'red tote'],
      searchTermsVersion: 2,
    });
    expect(await db.collection('chat_messages').findOne({ seq: 2 })).toMatchObject({ searchTerms: ['current'] });
    expect(log).toContain('0007-search-term-pairs: chat_messages: 2 documents read, 1 re-indexed');
  });

  it('applies in order, records each, and is a no-op when run again', async () => {
    const log: string[] = [];
    const runner = new MigrationRunner(db, [recording('0001-a', log), recording('0002-b', log)]);
    expect(await runner.up()).toEqual(['0001-a', '0002-b']);
    expect(await runner.up()).toEqual([]);
    expect(log).toEqual(['up 0001-a', 'up 0002-b']);
    const status = await runner.status();
    expect(status.map((entry) => [entry.id, entry.appliedAt instanceof Date])).toEqual([
      ['0001-a', true],
      ['0002-b', true],
    ]);
  });

  it('reverts the last applied migration with down, then re-applies it with up', async () => {
    const log: string[] = [];
    const runner = new MigrationRunner(db, [recording('0001-a', log), recording('0002-b', log)]);
    await runner.up();
    expect(await runner.down()).toBe('0002-b');
    expect((await runner.status()).map((entry) => entry.appliedAt === null)).toEqual([false, true]);
    expect(await runner.up()).toEqual(['0002-b']);
    expect(log).toEqual(['up 0001-a', 'up 0002-b', 'down 0002-b', 'up 0002-b']);
  });

  it('runs each migration once when two instances boot at the same time', async () => {
    const log: string[] = [];
    const migrations = [recording('0001-a', log), recording('0002-b', log)];
    const results = await Promise.all([new MigrationRunner(db, migrations).up(), new MigrationRunner(db, migrations).up()]);
    expect(log).toEqual(['up 0001-a', 'up 0002-b']);
    expect(results.flat().sort()).toEqual(['0001-a', '0002-b']);
    expect(await db.collection(LEASES_COLLECTION).countDocuments()).toBe(0);
  });

  it('takes over a lock left behind by a crashed instance once it expires', async () => {
    await db.collection<{ _id: string; owner: string; expiresAt: Date }>(LEASES_COLLECTION).insertOne({
      _id: 'migrations',
      owner: 'crashed',
      expiresAt: new Date(Date.now() - 1000),
    });
    const log: string[] = [];
    expect(await new MigrationRunner(db, [recording('0001-a', log)]).up()).toEqual(['0001-a']);
  });

  it('gives up with a clear error while a live lock is held', async () => {
    await db.collection<{ _id: string; owner: string; expiresAt: Date }>(LEASES_COLLECTION).insertOne({
      _id: 'migrations',
      owner: 'other-host:42',
      expiresAt: new Date(Date.now() + 60_000),
    });
    await expect(new MigrationRunner(db, [recording('0001-a', [])], { lockWaitMs: 300 }).up()).rejects.toThrow(/locked by other-host:42/);
  });

  it('refuses migrations listed out of order or twice', () => {
    expect(() => new MigrationRunner(db, [recording('0002-b', []), recording('0001-a', [])])).toThrow(/id order/);
    expect(() => new MigrationRunner(db, [recording('0001-a', []), recording('0001-a', [])])).toThrow(/unique/);
  });
});
