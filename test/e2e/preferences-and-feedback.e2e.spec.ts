import mongoose from 'mongoose';
import { TestApp, startTestApp } from '../support/test-app.js';

const PREFERENCES = '/api/v1/chat/user/preferences';

describe('User preferences', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('answers defaults for a new user, then stores a full replacement', async () => {
    const headers = t.auth('newbie');
    const defaults = await t.http().get(PREFERENCES).set(headers).expect(200);
    expect(defaults.body).toEqual({
      language: null,
      responseStyle: null,
      defaultAgentKey: null,
      notifications: { replyCompleted: true },
      facts: [],
    });

    const saved = await t
      .http()
      .put(PREFERENCES)
      .set(headers)
      .send({
        language: 'de-AT',
        responseStyle: 'detailed',
        defaultAgentKey: 'picking-assistant',
        notifications: { replyCompleted: false },
      })
      .expect(200);
    expect(saved.body).toEqual({
      language: 'de-AT',
      responseStyle: 'detailed',
      defaultAgentKey: 'picking-assistant',
      notifications: { replyCompleted: false },
      facts: [],
    });

    const replaced = await t.http().put(PREFERENCES).set(headers).send({ language: 'en' }).expect(200);
    expect(replaced.body).toMatchObject({
      language: 'en',
      responseStyle: null,
      defaultAgentKey: null,
      notifications: { replyCompleted: true },
    });
    expect((await t.http().get(PREFERENCES).set(t.auth('someone-else')).expect(200)).body.language).toBeNull();
  });

  it.each([
    ['a malformed language', { language: 'english please' }],
    ['an unknown style', { responseStyle: 'poetic' }],
    ['a malformed agent key', { defaultAgentKey: 'Not A Key' }],
    ['notifications that are not an object', { notifications: true }],
    ['an unknown field', { facts: [] }],
  ])('refuses %s with 400', async (_case, body) => {
    const response = await t.http().put(PREFERENCES).set(t.auth('validator')).send(body).expect(400);
    expect(response.body.code).toBe('VALIDATION_FAILED');
  });

  it('keeps, lists and forgets facts, and keeps them across a settings replacement', async () => {
    const headers = t.auth('rememberer');
    const fact = await t.http().post(`${PREFERENCES}/facts`).set(headers).send({ text: '  Usually at site DC-01  ' }).expect(201);
    expect(fact.body).toMatchObject({ id: expect.stringMatching(/^[0-9a-f]{16}$/), text: 'Usually at site DC-01' });
    await t.http().put(PREFERENCES).set(headers).send({ responseStyle: 'concise' }).expect(200);
    expect((await t.http().get(PREFERENCES).set(headers).expect(200)).body.facts).toEqual([fact.body]);

    await t.http().delete(`${PREFERENCES}/facts/${fact.body.id}`).set(t.auth('stranger')).expect(404);
    await t.http().delete(`${PREFERENCES}/facts/${fact.body.id}`).set(headers).expect(204);
    await t.http().delete(`${PREFERENCES}/facts/${fact.body.id}`).set(headers).expect(404);
    expect((await t.http().get(PREFERENCES).set(headers).expect(200)).body.facts).toEqual([]);
  });

  it('keeps at most 50 facts', async () => {
    const headers = t.auth('hoarder');
    for (let i = 0; i < 50; i += 1) {
      await t
        .http()
        .post(`${PREFERENCES}/facts`)
        .set(headers)
        .send({ text: `fact ${i}` })
        .expect(201);
    }
    const response = await t.http().post(`${PREFERENCES}/facts`).set(headers).send({ text: 'one too many' }).expect(409);
    expect(response.body.code).toBe('FACT_LIMIT_REACHED');
    expect((await t.http().get(PREFERENCES).set(headers).expect(200)).body.facts).toHaveLength(50);
  });

  it('refuses an empty or oversized fact', async () => {
    await t.http().post(`${PREFERENCES}/facts`).set(t.auth('x')).send({ text: '' }).expect(400);
    await t
      .http()
      .post(`${PREFERENCES}/facts`)
      .set(t.auth('x'))
      .send({ text: 'x'.repeat(301) })
      .expect(400);
  });
});

describe('Feedback on replies', () => {
  let t: TestApp;
  let conversationId: string;
  let replyId: string;
  let questionId: string;

  beforeAll(async () => {
    t = await startTestApp();
    conversationId = (await t.http().post('/api/v1/chat/conversations').set(t.auth('rater')).send({}).expect(201)).body.id;
    const turn = await t
      .http()
      .post(`/api/v1/chat/conversations/${conversationId}/messages`)
      .set(t.auth('rater'))
      .send({ content: 'short pick' })
      .expect(201);
    replyId = turn.body.assistantMessage.id;
    questionId = turn.body.userMessage.id;
  });
  afterAll(() => t.close());

  const feedbackOn = (id: string) => `/api/v1/chat/messages/${id}/feedback`;

  it('records a rating with the agent version, and changing it keeps one rating', async () => {
    const first = await t.http().post(feedbackOn(replyId)).set(t.auth('rater')).send({ rating: 'down', comment: 'Too long' }).expect(200);
    expect(first.body).toMatchObject({ messageId: replyId, conversationId, rating: 'down', comment: 'Too long' });
    const changed = await t.http().post(feedbackOn(replyId)).set(t.auth('rater')).send({ rating: 'up' }).expect(200);
    expect(changed.body).toMatchObject({ rating: 'up', comment: null, createdAt: first.body.createdAt });
    const stored = await t.db.collection('chat_message_feedback').find({ userId: 'rater' }).toArray();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ rating: 'up', agentKey: 'picking-assistant', agentVersion: 1 });
  });

  it('keeps one rating when two arrive at once', async () => {
    const turn = await t
      .http()
      .post(`/api/v1/chat/conversations/${conversationId}/messages`)
      .set(t.auth('rater'))
      .send({ content: 'damaged item' })
      .expect(201);
    const id: string = turn.body.assistantMessage.id;
    const results = await Promise.all(
      ['up', 'down', 'up', 'down'].map((rating) => t.http().post(feedbackOn(id)).set(t.auth('rater')).send({ rating })),
    );
    expect(results.map((result) => result.status)).toEqual([200, 200, 200, 200]);
    expect(
      await t.db.collection('chat_message_feedback').countDocuments({ messageId: new mongoose.Types.ObjectId(id), userId: 'rater' }),
    ).toBe(1);
  });

  it('refuses feedback on a user message (400), on someone else’s reply (404) and with a bad rating (400)', async () => {
    const onQuestion = await t.http().post(feedbackOn(questionId)).set(t.auth('rater')).send({ rating: 'up' }).expect(400);
    expect(onQuestion.body.code).toBe('NOT_AN_ASSISTANT_MESSAGE');
    const theirs = await t.http().post(feedbackOn(replyId)).set(t.auth('intruder')).send({ rating: 'down' }).expect(404);
    expect(theirs.body.code).toBe('MESSAGE_NOT_FOUND');
    await t.http().post(feedbackOn(replyId)).set(t.auth('rater')).send({ rating: 'meh' }).expect(400);
    await t.http().post(feedbackOn('not-an-id')).set(t.auth('rater')).send({ rating: 'up' }).expect(400);
    expect(await t.db.collection('chat_message_feedback').countDocuments({ userId: 'intruder' })).toBe(0);
  });
});
