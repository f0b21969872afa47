import { randomBytes } from 'node:crypto';
import mongoose from 'mongoose';

/**
 * The embedded store answers queries on a non-unique index's leading field from its own hash
 * index (embedded-store/.../SecondaryIndex.java). Whatever the store, an indexed query must return
 * exactly what a full scan returns (date ranges on a top-level field are served from the index's
 * date order): each case compares the two, the scan forced by wrapping the
 * same condition in $or (which no index serves).
 */
interface IndexedDoc {
  owner: mongoose.Types.ObjectId | string;
  n?: number | null;
  tags?: string[];
  /** A nested field, indexed by its dotted path. */
  meta?: { id: string };
  /** Subdocuments in an array, indexed by a dotted path through it. */
  parts?: { id: string }[];
  at: Date;
}

describe('queries served by secondary indexes', () => {
  let client: mongoose.mongo.MongoClient;
  let collection: mongoose.mongo.Collection<IndexedDoc>;
  const ids: [mongoose.Types.ObjectId, mongoose.Types.ObjectId, mongoose.Types.ObjectId] = [
    new mongoose.Types.ObjectId(),
    new mongoose.Types.ObjectId(),
    new mongoose.Types.ObjectId(),
  ];

  beforeAll(async () => {
    client = await new mongoose.mongo.MongoClient(process.env.TEST_MONGODB_URI!).connect();
    const db = client.db(`indexes_${randomBytes(5).toString('hex')}`);
    collection = db.collection<IndexedDoc>('docs');
    // Documents before the index exists, to check the index is built from existing data.
    await collection.insertMany([
      { owner: ids[0], n: 1, tags: ['a', 'b'], at: new Date(1000) },
      { owner: ids[0], n: 2, tags: ['b'], at: new Date(2000) },
    ]);
    await collection.createIndex({ owner: 1, at: 1 }, { name: 'owner_at' });
    await collection.createIndex({ tags: 1 }, { name: 'tags' });
    await collection.createIndex({ n: 1 }, { name: 'n' });
    await collection.createIndex({ 'meta.id': 1 }, { name: 'meta_id' });
    await collection.createIndex({ 'parts.id': 1 }, { name: 'parts_id' });
    await collection.createIndex({ at: 1 }, { name: 'at' });
    await collection.insertMany([
      { owner: 'nested-owner', meta: { id: 'm1' }, parts: [{ id: 'p1' }, { id: 'p2' }], at: new Date(8000) },
      { owner: 'nested-owner', meta: { id: 'm2' }, parts: [{ id: 'p2' }], at: new Date(9000) },
      { owner: ids[1], n: 1.0, tags: ['c'], at: new Date(3000) },
      { owner: ids[1], n: 3, tags: [], at: new Date(4000) },
      { owner: ids[2], n: null, at: new Date(5000) },
      { owner: ids[2], at: new Date(6000) },
      // A scalar where other documents hold arrays: the driver's types forbid it, MongoDB does not.
      { owner: 'text-owner', n: 4, tags: 'a' as unknown as string[], at: new Date(7000) },
      // Not a date, and an array holding one: a date range matches the date element only.
      { owner: 'odd-at', at: 7500 as unknown as Date },
      { owner: 'odd-at', at: [new Date(7600), 'x'] as unknown as Date },
    ]);
  });
  afterAll(async () => {
    await collection.db.dropDatabase();
    await client.close();
  });

  async function expectSameAsScan(filter: mongoose.mongo.Filter<IndexedDoc>) {
    const viaIndex = await collection.find(filter).sort({ at: 1 }).toArray();
    const viaScan = await collection
      .find({ $or: [filter] })
      .sort({ at: 1 })
      .toArray();
    expect(viaIndex).toEqual(viaScan);
    return viaIndex;
  }

  it.each([
    ['equality on an ObjectId', () => ({ owner: ids[0] })],
    ['equality plus further conditions', () => ({ owner: ids[1], at: { $gt: new Date(3000) } })],
    ['$in', () => ({ owner: { $in: [ids[0], ids[2]] } })],
    ['$eq', () => ({ owner: { $eq: 'text-owner' } })],
    ['a number matching int and double', () => ({ n: 1 })],
    ['null matching null and missing', () => ({ n: null })],
    ['an element of an array (multikey)', () => ({ tags: 'a' })],
    ['$in over array elements', () => ({ tags: { $in: ['b', 'c'] } })],
    ['a value nobody has', () => ({ owner: new mongoose.Types.ObjectId() })],
    ['an empty array', () => ({ tags: [] })],
    ['a whole array', () => ({ tags: ['a', 'b'] })],
    ['a regular expression', () => ({ owner: /text/ })],
    ['equality on a nested field (dotted index)', () => ({ 'meta.id': 'm1' })],
    ['$in on a nested field', () => ({ 'meta.id': { $in: ['m1', 'm2'] } })],
    ['a field of subdocuments in an array', () => ({ 'parts.id': 'p2' })],
    ['a date range, both bounds (date index)', () => ({ at: { $gte: new Date(2000), $lt: new Date(8000) } })],
    ['a date range, exclusive and inclusive bounds', () => ({ at: { $gt: new Date(2000), $lte: new Date(8000) } })],
    ['a date range, one bound', () => ({ at: { $gte: new Date(7000) } })],
    ['a date range that matches an array element', () => ({ at: { $gt: new Date(7550), $lt: new Date(7700) } })],
    ['a date range plus further conditions', () => ({ at: { $lt: new Date(6500) }, owner: ids[2] })],
    ['an empty date range', () => ({ at: { $gte: new Date(5000), $lt: new Date(5000) } })],
    ['a date range whose bounds cross', () => ({ at: { $gte: new Date(8000), $lt: new Date(2000) } })],
    ['a date range with two lower bounds', () => ({ at: { $gt: new Date(2000), $gte: new Date(1000), $lte: new Date(7000) } })],
    ['a date range with two upper bounds at one date', () => ({ at: { $lte: new Date(5000), $lt: new Date(5000) } })],
  ])('%s', async (_case, filter) => {
    await expectSameAsScan(filter());
  });

  it.each([
    ['equality', () => ({ owner: ids[0] })],
    ['a date range', () => ({ at: { $gte: new Date(2000), $lt: new Date(8000) } })],
    ['_id $in with a further condition', () => ({ _id: { $in: [] as mongoose.Types.ObjectId[] }, n: 1 })],
    ['a value nobody has', () => ({ owner: 'nobody' })],
  ])('answers an aggregation and countDocuments whose $match an index serves (%s) as a scan does', async (_case, filter) => {
    const pipeline = (match: object) => [{ $match: match }, { $group: { _id: '$owner', n: { $sum: 1 } } }, { $sort: { _id: 1 } }];
    const viaIndex = await collection.aggregate(pipeline(filter())).toArray();
    expect(viaIndex).toEqual(await collection.aggregate(pipeline({ $or: [filter()] })).toArray());
    expect(await collection.countDocuments(filter())).toBe(await collection.countDocuments({ $or: [filter()] }));
  });

  it('finds documents by a dotted index path (not an empty answer)', async () => {
    expect(await expectSameAsScan({ 'meta.id': 'm1' })).toHaveLength(1);
    expect(await expectSameAsScan({ 'parts.id': 'p2' })).toHaveLength(2);
  });

  it('serves a day of dates from the date order (not an empty answer)', async () => {
    expect(await expectSameAsScan({ at: { $gte: new Date(2000), $lt: new Date(8000) } })).toHaveLength(7);
  });

  it('follows updates of the indexed field and deletions', async () => {
    await collection.updateOne({ owner: ids[2], n: null }, { $set: { at: new Date(9500) } });
    expect(await expectSameAsScan({ at: { $gt: new Date(9400) } })).toHaveLength(1);

    await collection.updateOne({ owner: ids[0], n: 2 }, { $set: { owner: ids[1] } });
    expect(await expectSameAsScan({ owner: ids[0] })).toHaveLength(1);
    expect(await expectSameAsScan({ owner: ids[1] })).toHaveLength(3);

    await collection.updateMany({ tags: 'b' }, { $pull: { tags: 'b' } });
    expect(await expectSameAsScan({ tags: 'b' })).toHaveLength(0);

    await collection.deleteMany({ owner: ids[1] });
    expect(await expectSameAsScan({ owner: ids[1] })).toHaveLength(0);
    expect(await expectSameAsScan({ n: 1 })).toHaveLength(1);
  });
});

/**
 * The embedded store picks the index that narrows a query most (IndexPlanner.java): a rare value
 * of one indexed field beats a date range over most documents, whichever index was created first.
 * It names its pick through its own `wmsIndexPlan` command; other stores plan for themselves.
 */
(process.env.TEST_MONGODB_KIND === 'mongo-java-server' ? describe : describe.skip)('the embedded store’s index choice', () => {
  let client: mongoose.mongo.MongoClient;
  let db: mongoose.mongo.Db;

  beforeAll(async () => {
    client = await new mongoose.mongo.MongoClient(process.env.TEST_MONGODB_URI!).connect();
    db = client.db(`plans_${randomBytes(5).toString('hex')}`);
    const rollups = db.collection('rollups');
    // Created in the order that made the first-created date index serve every query.
    await rollups.createIndex({ periodStart: 1, scope: 1 }, { name: 'periodStart_scope' });
    await rollups.createIndex({ scope: 1, periodStart: 1 }, { name: 'scope_periodStart' });
    await rollups.createIndex({ scopeId: 1 }, { name: 'scopeId' });
    const day = Date.UTC(2026, 10, 1);
    const documents = [];
    for (let index = 0; index < 300; index += 1) {
      documents.push({
        scope: index % 100 === 0 ? 'agent' : 'user',
        scopeId: `s-${index}`,
        periodStart: new Date(day + (index % 30) * 86_400_000),
      });
    }
    await rollups.insertMany(documents);
  });
  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  const plan = async (filter: Record<string, unknown>) => (await db.command({ wmsIndexPlan: 'rollups', filter })).index as string | null;
  const month = { $gte: new Date(Date.UTC(2026, 10, 1)), $lt: new Date(Date.UTC(2026, 11, 1)) };

  it('serves a rare value with a date range from the value’s index, not the range’s', async () => {
    expect(await plan({ scope: 'agent', periodStart: month })).toBe('scope_periodStart');
    expect(await plan({ scopeId: 's-7', scope: 'user', periodStart: month })).toBe('scopeId');
  });

  it('serves a narrow date range from the date order when the value is common', async () => {
    const oneDay = { $gte: new Date(Date.UTC(2026, 10, 1)), $lt: new Date(Date.UTC(2026, 10, 2)) };
    expect(await plan({ scope: 'user', periodStart: oneDay })).toBe('periodStart_scope');
  });

  it('looks up _id first, also with further conditions, and scans what no index serves', async () => {
    expect(await plan({ _id: new mongoose.Types.ObjectId(), scope: 'agent' })).toBe('_id_');
    expect(await plan({ _id: { $in: [new mongoose.Types.ObjectId()] }, scope: 'agent', periodStart: month })).toBe('_id_');
    expect(await plan({ $or: [{ scope: 'agent' }] })).toBeNull();
  });

  it('answers an _id lookup with further conditions as a scan does', async () => {
    const rollups = db.collection('rollups');
    const some = await rollups
      .find({}, { projection: { _id: 1 } })
      .limit(150)
      .toArray();
    const filter = { _id: { $in: some.map((document) => document._id) }, scope: 'agent' };
    const viaIndex = await rollups.find(filter).sort({ scopeId: 1 }).toArray();
    expect(viaIndex).toHaveLength(2);
    expect(viaIndex).toEqual(
      await rollups
        .find({ $or: [filter] })
        .sort({ scopeId: 1 })
        .toArray(),
    );
  });
});
