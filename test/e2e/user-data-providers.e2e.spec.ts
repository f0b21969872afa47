import { jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import mongoose from 'mongoose';
import {
  ATTACHMENT_STORAGE,
  type AttachmentStorage,
  ownerDirectory,
  storageKeyFor,
} from '../../src/attachments/storage/attachment-storage.js';
import { UserDataRegistry } from '../../src/common/user-data/user-data.registry.js';
import { addCounts, type DataCounts, type Pseudonymisation } from '../../src/common/user-data/user-data.js';
import { ConversationsService } from '../../src/conversations/conversations.service.js';
import { TestApp, startTestApp } from '../support/test-app.js';
import { SeededUser, documentsContaining, fieldsHolding, seedUser } from '../support/user-data-seed.js';

const API = '/api/v1/chat';
/** The providers of the feature modules (compliance's own parts register theirs too; they are tested with them). */
const FEATURE_PROVIDERS = ['conversations', 'messages', 'feedback', 'preferences', 'attachments'];
const { ObjectId } = mongoose.Types;

interface Collected {
  records: Map<string, Record<string, unknown>[]>;
  csvColumns: Map<string, readonly string[]>;
  files: { path: string; size: number; bytes: Buffer }[];
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function valueAt(record: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | null | undefined)?.[key], record);
}

describe.each(['local', 'gridfs'] as const)('The feature modules’ user-data providers (%s storage)', (driver) => {
  let t: TestApp;
  let directory: string;
  let registry: UserDataRegistry;
  let storage: AttachmentStorage;
  let bob: SeededUser;
  let bobBefore: DataCounts;

  const providers = () => registry.userDataProviders().filter((provider) => FEATURE_PROVIDERS.includes(provider.name));
  const conversationProviders = () => registry.conversationDataProviders().filter((provider) => FEATURE_PROVIDERS.includes(provider.name));

  async function inventory(userId: string): Promise<DataCounts> {
    const counts: DataCounts = {};
    for (const provider of providers()) addCounts(counts, await provider.inventory(userId));
    return counts;
  }

  async function collect(userId: string): Promise<Collected> {
    const collected: Collected = { records: new Map(), csvColumns: new Map(), files: [] };
    for (const provider of providers()) {
      for await (const part of provider.export(userId)) {
        if (part.kind === 'records') {
          const records: Record<string, unknown>[] = [];
          for await (const record of part.records) records.push(record);
          collected.records.set(part.name, records);
          if (part.csvColumns) collected.csvColumns.set(part.name, part.csvColumns);
        } else {
          collected.files.push({ path: part.path, size: part.size, bytes: await readAll(await part.open()) });
        }
      }
    }
    return collected;
  }

  /** Whether any stored object is left under the keys an attachment's files can have. */
  async function anyFileLeft(userId: string, attachmentId: string): Promise<boolean> {
    for (const variant of [undefined, 'thumbnail', 'clean'] as const) {
      const found = await storage.read(storageKeyFor(userId, attachmentId, variant)).then(
        (stream) => {
          stream.destroy();
          return true;
        },
        () => false,
      );
      if (found) return true;
    }
    return false;
  }

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wms-user-data-'));
    t = await startTestApp({ ATTACHMENT_STORAGE: driver, ATTACHMENTS_DIR: directory, CHAT_RATE_LIMIT_PER_MINUTE: '10000' });
    registry = t.app.get(UserDataRegistry);
    storage = t.app.get<AttachmentStorage>(ATTACHMENT_STORAGE);
    bob = await seedUser(t, 'bob', { conversations: 1 });
    bobBefore = await inventory('bob');
  });
  afterAll(async () => {
    await t.close();
    await rm(directory, { recursive: true, force: true });
  });
  afterEach(async () => {
    // Whatever a test did to its user, the bystander keeps everything.
    expect(await inventory('bob')).toEqual(bobBefore);
  });

  it('registers one provider per feature module, each naming where it keeps a user’s data', () => {
    expect(providers().map((provider) => provider.name)).toEqual(expect.arrayContaining(FEATURE_PROVIDERS));
    expect(
      conversationProviders()
        .map((provider) => provider.name)
        .sort(),
    ).toEqual(['attachments', 'feedback', 'messages']);
    const stores = providers().flatMap((provider) => provider.holdings.map((holding) => holding.store));
    expect(stores).toEqual(
      expect.arrayContaining([
        'chat_conversations',
        'chat_messages',
        'chat_message_feedback',
        'chat_user_preferences',
        'chat_attachments',
        'files:attachments',
        'chat_attachment_files.files',
      ]),
    );
  });

  it('counts and exports everything of the user, files included, and nothing of anyone else', async () => {
    const alice = await seedUser(t, 'alice', { conversations: 2 });
    expect(await inventory('alice')).toEqual({
      chat_conversations: 2,
      chat_messages: 4,
      chat_message_feedback: 1,
      chat_user_preferences: 1,
      chat_attachments: 2,
      // the two originals and the image's thumbnail
      'files:attachments': 3,
    });

    const exported = await collect('alice');
    const conversations = exported.records.get('conversations')!;
    expect(conversations.map((conversation) => conversation.id).sort()).toEqual([...alice.conversationIds].sort());
    expect(conversations[0]).toMatchObject({
      userId: 'alice',
      title: `Night shift 0 of ${alice.secret}`,
      status: 'active',
      metadata: { contact: alice.secret },
      messageCount: 2,
      archivedAt: null,
      deletedAt: null,
    });

    const messages = exported.records.get('messages')!;
    expect(messages).toHaveLength(4);
    const question = messages.find((message) => message.id === alice.userMessageIds[0])!;
    expect(question).toMatchObject({
      conversationId: alice.conversationIds[0],
      seq: 1,
      type: 'user',
      status: 'completed',
      content: `Short pick at aisle 12; reach me at ${alice.secret}`,
      metadata: { from: alice.secret },
      attachmentCount: 2,
    });
    expect(question.tokens).toBeGreaterThan(0);
    const reply = messages.find((message) => message.id === alice.replyIds[0])!;
    expect(reply).toMatchObject({ type: 'assistant', seq: 2, generation: { provider: 'playbook' } });
    expect((reply.content as string).length).toBeGreaterThan(0);

    expect(exported.records.get('feedback')).toEqual([
      expect.objectContaining({ messageId: alice.replyIds[0], rating: 'up', comment: `Helpful, thanks — ${alice.secret}` }),
    ]);
    expect(exported.records.get('preferences')).toEqual([
      expect.objectContaining({
        language: 'de-AT',
        responseStyle: 'concise',
        facts: [expect.objectContaining({ text: `Works at DC-01, reachable at ${alice.secret}` })],
      }),
    ]);
    expect(exported.records.get('facts')).toEqual([expect.objectContaining({ text: `Works at DC-01, reachable at ${alice.secret}` })]);

    const attachments = exported.records.get('attachments')!;
    expect(attachments.map((attachment) => attachment.id).sort()).toEqual([...alice.attachmentIds].sort());
    const sheet = attachments.find((attachment) => attachment.originalName === 'count-sheet.txt')!;
    expect(sheet.extractedText).toContain(`Count sheet kept by ${alice.secret}`);
    expect(sheet.file).toBe(`files/attachments/${String(sheet.id)}-count-sheet.txt`);

    // One file per stored original, byte for byte, under a safe path; thumbnails are left out.
    expect(exported.files.map((file) => file.path).sort()).toEqual(
      attachments.map((attachment) => (attachment.file as string).replace(/^files\//, '')).sort(),
    );
    for (const file of exported.files) {
      expect(file.path).toMatch(/^attachments\/[0-9a-f]{24}-[^/\\]+$/);
      const record = attachments.find((attachment) => attachment.file === `files/${file.path}`)!;
      expect(file.bytes.equals(alice.files.get(record.id as string)!)).toBe(true);
      expect(file.size).toBe(file.bytes.length);
      expect(createHash('sha256').update(file.bytes).digest('hex')).toBe(record.sha256);
    }

    // Every CSV column names a field the records have.
    for (const [name, columns] of exported.csvColumns) {
      for (const column of columns) {
        const defined = exported.records.get(name)!.some((record) => valueAt(record, column) !== undefined);
        expect({ part: name, column, defined }).toEqual({ part: name, column, defined: true });
      }
    }

    const everything = JSON.stringify([...exported.records.values()]);
    expect(everything).not.toContain(bob.secret);
    for (const id of [...bob.conversationIds, ...bob.userMessageIds, ...bob.attachmentIds]) expect(everything).not.toContain(id);
  });

  it('purges whole conversations with their messages, files and ratings, leaving the user’s other conversation', async () => {
    const carol = await seedUser(t, 'carol', { conversations: 3 });
    // The files are on the first conversation's message, the rating on its reply.
    const purged = carol.conversationIds.slice(0, 2).map((id) => new ObjectId(id));
    const expected = { chat_messages: 4, chat_message_feedback: 1, chat_attachments: 2, 'files:attachments': 3 };

    const counted: DataCounts = {};
    for (const provider of conversationProviders()) addCounts(counted, await provider.countForConversations(purged));
    expect(counted).toEqual(expected);

    // Retention's order: mark, purge what hangs under them, then the conversations.
    const service = t.app.get(ConversationsService);
    const marked = await service.markForPurge(purged, { lastActivityBefore: new Date(Date.now() + 60_000) });
    expect(marked.map((id) => id.toHexString()).sort()).toEqual(carol.conversationIds.slice(0, 2).sort());
    const removed: DataCounts = {};
    for (const provider of conversationProviders()) addCounts(removed, await provider.purgeConversations(purged));
    addCounts(removed, await service.purgeConversations(purged));
    expect(removed).toEqual({ ...expected, chat_conversations: 2 });

    const after: DataCounts = {};
    for (const provider of conversationProviders()) addCounts(after, await provider.countForConversations(purged));
    expect(after).toEqual({ chat_messages: 0, chat_message_feedback: 0, chat_attachments: 0, 'files:attachments': 0 });
    for (const id of carol.attachmentIds) expect(await anyFileLeft('carol', id)).toBe(false);
    await t.http().get(`${API}/conversations/${carol.conversationIds[0]}`).set(t.auth('carol')).expect(404);

    const kept = await t.http().get(`${API}/conversations/${carol.conversationIds[2]}/messages`).set(t.auth('carol')).expect(200);
    expect(kept.body.items.map((message: { id: string }) => message.id)).toEqual([carol.userMessageIds[2], carol.replyIds[2]]);
    expect(await inventory('carol')).toMatchObject({
      chat_conversations: 1,
      chat_messages: 2,
      chat_attachments: 0,
      chat_message_feedback: 0,
    });
  });

  it('pseudonymises: the id replaced everywhere, personal text masked, files removed, counts and token totals kept', async () => {
    const dora = await seedUser(t, 'dora', { conversations: 2 });
    const pseudonym = 'anon-3f9c1e77a0b2';
    const request: Pseudonymisation = { userId: 'dora', pseudonym, maskText: (text) => text.split(dora.secret).join('[email]') };
    const messages = t.db.collection('chat_messages');
    const totals = async (userId: string) => {
      const rows = await messages.find({ userId }).sort({ _id: 1 }).toArray();
      return {
        count: rows.length,
        tokens: rows.reduce((sum, row) => sum + (row.tokens as number), 0),
        tokensUsed: rows.reduce((sum, row) => sum + ((row.tokensUsed as { total: number } | undefined)?.total ?? 0), 0),
        shape: rows.map((row) => [String(row._id), row.type, row.seq, row.status, row.timestamp.toISOString()]),
      };
    };
    const before = await totals('dora');
    expect(before.count).toBe(4);
    expect(before.tokensUsed).toBeGreaterThan(0);
    const messageCounts = async (userId: string) =>
      (await t.db.collection('chat_conversations').find({ userId }).sort({ _id: 1 }).toArray()).map((row) => row.messageCount as number);
    const countsBefore = await messageCounts('dora');

    const changed: DataCounts = {};
    for (const provider of providers()) addCounts(changed, await provider.pseudonymise(request));
    expect(changed).toEqual({
      chat_conversations: 2,
      chat_messages: 4,
      chat_message_feedback: 1,
      // preferences describe the person only: removed
      chat_user_preferences: 1,
      chat_attachments: 2,
      'files:attachments': 3,
    });

    expect(await totals(pseudonym)).toEqual(before);
    expect(await messageCounts(pseudonym)).toEqual(countsBefore);
    const rewritten = await messages.find({ userId: pseudonym }).toArray();
    expect(rewritten.find((row) => String(row._id) === dora.userMessageIds[0])).toMatchObject({
      content: 'Short pick at aisle 12; reach me at [email]',
      metadata: { from: '[email]' },
    });
    expect(rewritten.every((row) => row.searchTerms === undefined)).toBe(true);
    const conversation = await t.db.collection('chat_conversations').findOne({ _id: new ObjectId(dora.conversationIds[0]) });
    expect(conversation).toMatchObject({
      userId: pseudonym,
      title: 'Night shift 0 of [email]',
      metadata: { contact: '[email]', site: 'DC-01', nested: { emails: ['[email]'] } },
    });
    expect(conversation!.titleTerms).toBeUndefined();
    expect(await t.db.collection('chat_message_feedback').findOne({ messageId: new ObjectId(dora.replyIds[0]) })).toMatchObject({
      userId: pseudonym,
      rating: 'up',
      comment: 'Helpful, thanks — [email]',
    });

    // Neither the id nor the personal text is left anywhere; the files are gone from storage.
    expect(await fieldsHolding(t.db, 'dora')).toEqual([]);
    expect(await documentsContaining(t.db, dora.secret)).toEqual([]);
    for (const id of dora.attachmentIds) expect(await anyFileLeft('dora', id)).toBe(false);

    // The records stay (counts, sizes), without name or text; their downloads answer 410, not 500.
    const headers = t.auth(pseudonym);
    const sheet = await t.http().get(`${API}/attachments/${dora.attachmentIds[0]}?include=text`).set(headers).expect(200);
    expect(sheet.body).toMatchObject({
      originalName: 'removed.txt',
      hasExtractedText: false,
      fileSize: dora.files.get(dora.attachmentIds[0]!)!.length,
    });
    const gone = await t.http().get(`${API}/attachments/${dora.attachmentIds[0]}/content`).set(headers).expect(410);
    expect(gone.body).toMatchObject({ statusCode: 410, code: 'ATTACHMENT_UNAVAILABLE' });
    await t.http().get(`${API}/attachments/${dora.attachmentIds[1]}/thumbnail`).set(headers).expect(404);
    expect((await t.http().get(`${API}/user/preferences`).set(t.auth('dora')).expect(200)).body.facts).toEqual([]);

    // Done once: a second run (a resumed job) finds nothing left to change.
    const again: DataCounts = {};
    for (const provider of providers()) addCounts(again, await provider.pseudonymise(request));
    expect(Object.values(again).every((count) => count === 0)).toBe(true);
  });

  it('erases everything of the user, files no record points at included, and is idempotent', async () => {
    const erin = await seedUser(t, 'erin', { conversations: 2 });
    // A file left behind without its record (say, by a crash between storing it and recording it).
    const orphan = storageKeyFor('erin', new ObjectId().toHexString());
    await storage.write(orphan, Readable.from([Buffer.from(`orphaned note of ${erin.secret}`)]), 'erin');
    // What the scans below must no longer find.
    expect(await fieldsHolding(t.db, 'erin')).toEqual(
      expect.arrayContaining(['chat_conversations userId', 'chat_messages userId', 'chat_attachments userId']),
    );
    expect((await documentsContaining(t.db, erin.secret)).length).toBeGreaterThan(5);
    expect(await anyFileLeft('erin', erin.attachmentIds[0]!)).toBe(true);

    const removed: DataCounts = {};
    for (const provider of providers()) addCounts(removed, await provider.erase('erin'));
    expect(removed).toEqual({
      chat_conversations: 2,
      chat_messages: 4,
      chat_message_feedback: 1,
      chat_user_preferences: 1,
      chat_attachments: 2,
      // two originals, a thumbnail and the orphan
      'files:attachments': 4,
    });

    expect(Object.values(await inventory('erin')).every((count) => count === 0)).toBe(true);
    expect(await fieldsHolding(t.db, 'erin')).toEqual([]);
    expect(await documentsContaining(t.db, erin.secret)).toEqual([]);
    for (const id of erin.attachmentIds) expect(await anyFileLeft('erin', id)).toBe(false);
    await expect(storage.read(orphan)).rejects.toThrow('is missing');
    if (driver === 'local') await expect(stat(join(directory, ownerDirectory('erin')))).rejects.toMatchObject({ code: 'ENOENT' });
    else expect(await t.db.collection('chat_attachment_files.files').countDocuments({ 'metadata.userId': 'erin' })).toBe(0);

    const again: DataCounts = {};
    for (const provider of providers()) addCounts(again, await provider.erase('erin'));
    expect(Object.values(again).every((count) => count === 0)).toBe(true);
  });

  it('answers 410 for a file missing from storage while its record is there', async () => {
    const gus = await seedUser(t, 'gus');
    const id = gus.attachmentIds[0]!;
    await storage.remove(storageKeyFor('gus', id));
    const response = await t.http().get(`${API}/attachments/${id}/content`).set(t.auth('gus')).expect(410);
    expect(response.body).toMatchObject({ code: 'ATTACHMENT_UNAVAILABLE', message: 'The file of this attachment is no longer stored' });
  });

  it('finds retention candidates by last activity or deletion, with role, agent, user and conversation filters, in _id order', async () => {
    const service = t.app.get(ConversationsService);
    const create = async (user: string, roles: string[]) =>
      (await t.http().post(`${API}/conversations`).set(t.auth(user, roles)).send({}).expect(201)).body as { id: string; agentKey: string };
    const old = [
      await create('frank', ['warehouse_operator']),
      await create('frank', ['warehouse_operator']),
      await create('hilda', ['supervisor']),
    ];
    const longAgo = new Date('2001-01-01T00:00:00Z');
    await t.db
      .collection('chat_conversations')
      .updateMany({ _id: { $in: old.map((conversation) => new ObjectId(conversation.id)) } }, { $set: { lastActivityAt: longAgo } });
    const deleted = await create('frank', ['warehouse_operator']);
    await t.http().delete(`${API}/conversations/${deleted.id}?permanent=true`).set(t.auth('frank')).expect(204);

    const ids = (candidates: { id: mongoose.Types.ObjectId }[]) => candidates.map((candidate) => candidate.id.toHexString());
    const cutoff = new Date('2002-01-01T00:00:00Z');
    const byActivity = await service.findForRetention({ lastActivityBefore: cutoff, limit: 10 });
    expect(ids(byActivity)).toEqual(old.map((conversation) => conversation.id));
    expect(byActivity[0]).toEqual({
      id: new ObjectId(old[0]!.id),
      userId: 'frank',
      role: 'warehouse_operator',
      agentKey: old[0]!.agentKey,
      status: 'active',
      lastActivityAt: longAgo,
      deletedAt: null,
    });

    expect(ids(await service.findForRetention({ lastActivityBefore: cutoff, roles: { in: ['supervisor'] }, limit: 10 }))).toEqual([
      old[2]!.id,
    ]);
    expect(ids(await service.findForRetention({ lastActivityBefore: cutoff, roles: { nin: ['supervisor'] }, limit: 10 }))).toEqual([
      old[0]!.id,
      old[1]!.id,
    ]);
    expect(ids(await service.findForRetention({ lastActivityBefore: cutoff, agentKeys: { in: [old[2]!.agentKey] }, limit: 10 }))).toEqual([
      old[2]!.id,
    ]);
    expect(ids(await service.findForRetention({ lastActivityBefore: cutoff, agentKeys: { in: [null] }, limit: 10 }))).toEqual([]);
    expect(ids(await service.findForRetention({ lastActivityBefore: cutoff, excludeUserIds: ['frank'], limit: 10 }))).toEqual([old[2]!.id]);
    expect(ids(await service.findForRetention({ lastActivityBefore: cutoff, excludeOwnersMatching: /^fra/, limit: 10 }))).toEqual([
      old[2]!.id,
    ]);
    expect(
      ids(await service.findForRetention({ lastActivityBefore: cutoff, excludeConversationIds: [new ObjectId(old[1]!.id)], limit: 10 })),
    ).toEqual([old[0]!.id, old[2]!.id]);
    // Batches: the limit, then on from the last id.
    const first = await service.findForRetention({ lastActivityBefore: cutoff, limit: 2 });
    expect(ids(first)).toEqual([old[0]!.id, old[1]!.id]);
    expect(ids(await service.findForRetention({ lastActivityBefore: cutoff, afterId: first[1]!.id, limit: 2 }))).toEqual([old[2]!.id]);

    const soon = new Date(Date.now() + 60_000);
    const byDeletion = await service.findForRetention({ deletedBefore: soon, limit: 10 });
    expect(ids(byDeletion)).toEqual([deleted.id]);
    expect(byDeletion[0]).toMatchObject({ status: 'deleted', deletedAt: expect.any(Date) });
    expect(await service.findForRetention({ deletedBefore: new Date('2001-01-01T00:00:00Z'), limit: 10 })).toEqual([]);
    // Either condition.
    expect(ids(await service.findForRetention({ lastActivityBefore: cutoff, deletedBefore: soon, limit: 10 }))).toEqual([
      ...old.map((conversation) => conversation.id),
      deleted.id,
    ]);
    await expect(service.findForRetention({ limit: 10 })).rejects.toThrow('needs lastActivityBefore or deletedBefore');
  });

  it('marks for purge only the conversations still due, which then refuse messages; only marked ones are deleted', async () => {
    const service = t.app.get(ConversationsService);
    const create = async () => (await t.http().post(`${API}/conversations`).set(t.auth('judy')).send({}).expect(201)).body.id as string;
    const [stale, revived, deletedByOwner] = [await create(), await create(), await create()];
    const all = [stale, revived, deletedByOwner].map((id) => new ObjectId(id));
    await t.db
      .collection('chat_conversations')
      .updateMany({ _id: { $in: all } }, { $set: { lastActivityAt: new Date('2001-01-01T00:00:00Z') } });
    // Between retention's selection and its mark: one takes a message, one is deleted for good by its owner.
    await t
      .http()
      .post(`${API}/conversations/${revived}/messages`)
      .set(t.auth('judy'))
      .send({ content: 'Still here', reply: false })
      .expect(201);
    await t.http().delete(`${API}/conversations/${deletedByOwner}?permanent=true`).set(t.auth('judy')).expect(204);
    const ownersDeletion = (await t.db.collection('chat_conversations').findOne({ _id: all[2] }))!.deletedAt as Date;

    const marked = await service.markForPurge(all, { lastActivityBefore: new Date('2002-01-01T00:00:00Z') });
    expect(marked.map((id) => id.toHexString())).toEqual([stale]);
    const stored = async (id: string) => (await t.db.collection('chat_conversations').findOne({ _id: new ObjectId(id) }))!;
    expect(await stored(stale)).toMatchObject({ status: 'deleted', deletedAt: expect.any(Date) });
    expect(await stored(revived)).toMatchObject({ status: 'active', deletedAt: null, messageCount: 1 });
    expect((await stored(deletedByOwner)).deletedAt).toEqual(ownersDeletion);
    const refused = await t
      .http()
      .post(`${API}/conversations/${stale}/messages`)
      .set(t.auth('judy'))
      .send({ content: 'Hello?', reply: false });
    expect([refused.status, refused.body.code]).toEqual([404, 'CONVERSATION_NOT_FOUND']);

    // Deleted for good: only re-checked against the grace.
    const later = new Date(Date.now() + 60_000);
    expect((await service.markForPurge(all, { deletedBefore: later })).map((id) => id.toHexString()).sort()).toEqual(
      [stale, deletedByOwner].sort(),
    );
    expect(await service.markForPurge(all, { deletedBefore: new Date('2001-01-01T00:00:00Z') })).toEqual([]);
    expect(await service.markForPurge([], { lastActivityBefore: later })).toEqual([]);

    // A conversation that was never marked is not deleted, even when asked.
    expect(await service.purgeConversations(all)).toEqual({ chat_conversations: 2 });
    expect(await stored(revived)).toMatchObject({ status: 'active' });
  });

  it('removes an owner’s files once each, counting only those it deleted', async () => {
    const write = (id: string) =>
      storage.write(storageKeyFor('karl', new ObjectId().toHexString()), Readable.from([Buffer.from(`file ${id}`)]), 'karl');
    await Promise.all(['a', 'b', 'c'].map(write));
    const counted = await Promise.all([storage.removeOwnedBy('karl'), driver === 'gridfs' ? storage.removeOwnedBy('karl') : 0]);
    expect(counted[0] + counted[1]).toBe(3);
    expect(await storage.removeOwnedBy('karl')).toBe(0);
  });

  if (driver === 'gridfs') {
    it('gives up with an error instead of looping when files of the owner will not go', async () => {
      await storage.write(storageKeyFor('lena', new ObjectId().toHexString()), Readable.from([Buffer.from('stuck')]), 'lena');
      const stuck = jest
        .spyOn(mongoose.mongo.GridFSBucket.prototype, 'delete')
        .mockRejectedValue(new mongoose.mongo.MongoRuntimeError('File not found for id 0'));
      try {
        await expect(storage.removeOwnedBy('lena')).rejects.toThrow('made no progress');
      } finally {
        stuck.mockRestore();
      }
      expect(await storage.removeOwnedBy('lena')).toBe(1);
    });
  }
});
