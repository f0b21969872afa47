import * as fixtures from './fixtures.js';
import type { TestApp } from './test-app.js';

const API = '/api/v1/chat';

/** What seeding gave a user, as the API answered it. */
export interface SeededUser {
  userId: string;
  /** Personal text written into every free-text field (titles, metadata, messages, comment, fact, file text). */
  secret: string;
  conversationIds: string[];
  /** The user's messages (one per conversation) and the assistant's replies to them. */
  userMessageIds: string[];
  replyIds: string[];
  attachmentIds: string[];
  /** The bytes uploaded, by attachment id. */
  files: Map<string, Buffer>;
}

/**
 * Gives `userId` data in every feature through the HTTP API: conversations (title and metadata
 * with the secret), a chat turn in each (answered by the role's playbook agent), a text file and
 * an image on the first message (processed before this resolves), a rating with a comment on the
 * first reply, preferences and a kept fact. The app needs CHAT_RATE_LIMIT_PER_MINUTE high enough.
 */
export async function seedUser(t: TestApp, userId: string, options: { conversations?: number; secret?: string } = {}): Promise<SeededUser> {
  const secret = options.secret ?? `${userId}.private@example.com`;
  const headers = t.auth(userId);
  const seeded: SeededUser = { userId, secret, conversationIds: [], userMessageIds: [], replyIds: [], attachmentIds: [], files: new Map() };
  for (let index = 0; index < (options.conversations ?? 1); index += 1) {
    const conversation = await t
      .http()
      .post(`${API}/conversations`)
      .set(headers)
      .send({ title: `Night shift ${index} of ${secret}`, metadata: { contact: secret, site: 'DC-01', nested: { emails: [secret] } } })
      .expect(201);
    const turn = await t
      .http()
      .post(`${API}/conversations/${conversation.body.id}/messages`)
      .set(headers)
      .send({ content: `Short pick at aisle ${index + 12}; reach me at ${secret}`, metadata: { from: secret } })
      .expect(201);
    if (turn.body.assistantMessage?.status !== 'completed') throw new Error(`The reply was not completed: ${JSON.stringify(turn.body)}`);
    seeded.conversationIds.push(conversation.body.id);
    seeded.userMessageIds.push(turn.body.userMessage.id);
    seeded.replyIds.push(turn.body.assistantMessage.id);
  }

  const text = Buffer.from(`Count sheet kept by ${secret}: 40 cartons of SKU 7781\n`);
  const image = await fixtures.png(80, 60);
  const upload = await t
    .http()
    .post(`${API}/messages/${seeded.userMessageIds[0]}/attachments`)
    .set(headers)
    .attach('file', text, 'count-sheet.txt')
    .attach('file', image, 'dock.png')
    .expect(201);
  for (const [index, item] of (upload.body.items as { id: string }[]).entries()) {
    seeded.attachmentIds.push(item.id);
    seeded.files.set(item.id, index === 0 ? text : image);
    await waitUntilProcessed(t, userId, item.id);
  }

  await t
    .http()
    .post(`${API}/messages/${seeded.replyIds[0]}/feedback`)
    .set(headers)
    .send({ rating: 'up', comment: `Helpful, thanks — ${secret}` })
    .expect(200);
  await t.http().put(`${API}/user/preferences`).set(headers).send({ language: 'de-AT', responseStyle: 'concise' }).expect(200);
  await t
    .http()
    .post(`${API}/user/preferences/facts`)
    .set(headers)
    .send({ text: `Works at DC-01, reachable at ${secret}` })
    .expect(201);
  return seeded;
}

async function waitUntilProcessed(t: TestApp, userId: string, attachmentId: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const response = await t.http().get(`${API}/attachments/${attachmentId}`).set(t.auth(userId)).expect(200);
    if (response.body.processingStatus !== 'pending') return;
    if (Date.now() > deadline) throw new Error(`attachment ${attachmentId} still pending`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Every (collection, dotted field path) where a document holds a string equal to `value`, with
 * array indexes left out of the path (`nested.emails`, not `nested.emails.0`); nested objects and
 * arrays are walked, binary data is not.
 */
export async function fieldsHolding(db: TestApp['db'], value: string): Promise<string[]> {
  const found = new Set<string>();
  const collections = (await db.listCollections({}, { nameOnly: true }).toArray()).map((collection) => collection.name).sort();
  for (const collection of collections) {
    for await (const document of db.collection(collection).find({})) {
      walk(document, [], (path) => found.add(`${collection} ${path.join('.')}`));
    }
  }
  return [...found].sort();

  function walk(node: unknown, path: string[], onMatch: (path: string[]) => void): void {
    if (node === value) onMatch(path);
    else if (Array.isArray(node)) node.forEach((item) => walk(item, path, onMatch));
    else if (node !== null && typeof node === 'object' && Object.getPrototypeOf(node) === Object.prototype) {
      for (const [key, child] of Object.entries(node)) walk(child, [...path, key], onMatch);
    }
  }
}

/** Every string anywhere in the database that contains `text` (for checks that masked or erased text is gone). */
export async function documentsContaining(db: TestApp['db'], text: string): Promise<string[]> {
  const found: string[] = [];
  const collections = (await db.listCollections({}, { nameOnly: true }).toArray()).map((collection) => collection.name).sort();
  for (const collection of collections) {
    for await (const document of db.collection(collection).find({})) {
      if (JSON.stringify(document).includes(text)) found.push(`${collection} ${String(document._id)}`);
    }
  }
  return found;
}
