import mongoose from 'mongoose';
import { ConversationsService } from '../../src/conversations/conversations.service.js';
import { MessagesService } from '../../src/messages/messages.service.js';
import { TestApp, startTestApp } from '../support/test-app.js';

describe('bulk operations in the services', () => {
  let t: TestApp;
  let conversations: ConversationsService;
  let messages: MessagesService;

  beforeAll(async () => {
    t = await startTestApp({ CHAT_MAX_MESSAGES_PER_CONVERSATION: '50' });
    conversations = t.app.get(ConversationsService);
    messages = t.app.get(MessagesService);
  });
  afterAll(() => t.close());

  const user = { id: 'importer', roles: ['warehouse_operator'] };

  it('appendMany writes a back-dated exchange in one batch with consecutive seqs and exact counters', async () => {
    const conversation = await conversations.create(user, { title: 'Imported' });
    const base = Date.parse('2026-01-05T08:00:00Z');
    const written = await messages.appendMany(user.id, conversation.id, [
      { type: 'system', content: 'You are the picking assistant.', timestamp: new Date(base) },
      { type: 'user', content: 'Short pick at 12-04-B', timestamp: new Date(base + 1000) },
      {
        type: 'assistant',
        content: 'Scan the tote and report a short.',
        timestamp: new Date(base + 2000),
        tokensUsed: { prompt: 40, completion: 9, total: 49 },
        processingTime: 812,
      },
    ]);
    expect(written.map((message) => [message.type, message.seq])).toEqual([
      ['system', 1],
      ['user', 2],
      ['assistant', 3],
    ]);
    expect(written[2]).toMatchObject({ tokensUsed: { prompt: 40, completion: 9, total: 49 }, processingTime: 812 });

    const after = await conversations.get(user.id, conversation.id);
    expect(after).toMatchObject({ messageCount: 3, lastMessageAt: '2026-01-05T08:00:02.000Z' });
  });

  it('appendMany refuses a batch that would pass the limit, writing none of it', async () => {
    const conversation = await conversations.create(user, {});
    const batch = Array.from({ length: 51 }, (_, i) => ({ type: 'user' as const, content: `m${i}` }));
    await expect(messages.appendMany(user.id, conversation.id, batch)).rejects.toMatchObject({ response: { code: 'CONVERSATION_FULL' } });
    expect(await t.db.collection('chat_messages').countDocuments({ conversationId: { $exists: true }, content: 'm0' })).toBe(0);
    expect((await conversations.get(user.id, conversation.id)).messageCount).toBe(0);
  });

  it('gives reserved slots back when the insert fails', async () => {
    const conversation = await conversations.create(user, {});
    await messages.appendMany(user.id, conversation.id, [{ type: 'user', content: 'first' }]);
    // Force a duplicate seq: rewind the counter so the next reservation hands out seq 1 again.
    await t.db.collection('chat_conversations').updateOne({ userId: user.id, title: null, messageCount: 1 }, { $set: { lastSeq: 0 } });
    await expect(messages.appendMany(user.id, conversation.id, [{ type: 'user', content: 'second' }])).rejects.toMatchObject({
      code: 11000,
    });
    const after = await conversations.get(user.id, conversation.id);
    expect(after.messageCount).toBe(1);
    const stored = await t.db.collection('chat_messages').find({ content: 'first' }).toArray();
    expect(after.lastMessageAt).toBe(stored[0]!.timestamp.toISOString());
  });

  it('setStatusMany archives many of one owner’s conversations in one bulkWrite and never touches another owner’s', async () => {
    const mine = await Promise.all([1, 2, 3].map(() => conversations.create({ id: 'bulk-owner', roles: ['supervisor'] }, {})));
    const theirs = await conversations.create({ id: 'bystander', roles: ['supervisor'] }, {});
    const changed = await conversations.setStatusMany('bulk-owner', [...mine.map((c) => c.id), theirs.id], 'archived');
    expect(changed).toBe(3);
    expect(
      await conversations.setStatusMany(
        'bulk-owner',
        mine.map((c) => c.id),
        'archived',
      ),
    ).toBe(0);
    expect((await conversations.get('bystander', theirs.id)).status).toBe('active');
    for (const conversation of mine) {
      expect((await conversations.get('bulk-owner', conversation.id)).status).toBe('archived');
    }
  });

  it('never runs an operator object smuggled into a filter value (sanitizeFilter)', async () => {
    const conversation = await conversations.create(user, {});
    // Without sanitizeFilter, { $ne: 'nobody' } as owner would match every user's conversation.
    const smuggled = { $ne: 'nobody' } as unknown as string;
    await expect(conversations.get(smuggled, conversation.id)).rejects.toBeInstanceOf(mongoose.Error.CastError);
  });
});
