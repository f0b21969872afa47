import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getConnectionToken } from '@nestjs/mongoose';
import type mongoose from 'mongoose';
import { UserDataRegistry } from '../../src/common/user-data/user-data.registry.js';
import { TestApp, startTestApp } from '../support/test-app.js';
import { fieldsHolding, seedUser } from '../support/user-data-seed.js';

/** Schema paths that name a user, wherever they are nested. */
const USER_FIELD = /(^|\.)(userId|ownerId|owner|actorId|createdBy|updatedBy|requestedBy|subjectUserId)$/;
const USER_ID = 'coverage-subject-7';

/** Every path of a schema, those inside nested and array subdocument schemas included (`thumbnail.storage.key`). */
function schemaPaths(schema: mongoose.Schema, prefix = ''): string[] {
  const paths: string[] = [];
  schema.eachPath((path, type) => {
    paths.push(prefix + path);
    const nested = (type as { schema?: mongoose.Schema }).schema;
    if (nested) paths.push(...schemaPaths(nested, `${prefix}${path}.`));
  });
  return paths;
}

/**
 * What the compliance parts keep of a person: an export job they asked for (and its archive), a
 * hold placed on them and released, the audit entries about both; and, as an admin, a hold they
 * placed on someone else and a retention policy they changed.
 */
async function seedComplianceRecords(t: TestApp): Promise<void> {
  const API = '/api/v1/chat';
  const asAdmin = t.auth(USER_ID, ['admin']);
  const job = await t.http().post(`${API}/user/data-export`).set(t.auth(USER_ID)).expect(202);
  for (let attempt = 0; ; attempt += 1) {
    const status = await t.http().get(`${API}/user/data-exports/${job.body.id}`).set(t.auth(USER_ID)).expect(200);
    if (status.body.status === 'ready') break;
    if (status.body.status === 'failed' || attempt > 300) throw new Error(`The export did not finish: ${JSON.stringify(status.body)}`);
    await new Promise((wake) => setTimeout(wake, 100));
  }
  const admin = t.auth('coverage-admin', ['admin']);
  const onSubject = await t
    .http()
    .post(`${API}/admin/legal-holds`)
    .set(admin)
    .send({ target: 'user', targetId: USER_ID, reason: 'audit' })
    .expect(201);
  await t.http().post(`${API}/admin/legal-holds/${onSubject.body.id}/release`).set(admin).send({ reason: 'closed' }).expect(200);
  await t
    .http()
    .post(`${API}/admin/legal-holds`)
    .set(asAdmin)
    .send({ target: 'user', targetId: 'someone-else', reason: 'dispute' })
    .expect(201);
  await t.http().put(`${API}/admin/retention/policies/role/night_shift`).set(asAdmin).send({ days: 30 }).expect(200);
}

/**
 * The seam's promise: a user's data can only be exported, erased and pseudonymised completely if
 * every place that holds it is some provider's holding. A new collection, or a new field naming a
 * user, without a provider that covers it fails here, with the uncovered (collection, field)
 * pairs in the message.
 */
describe('Every place that holds a user’s id is covered by a user-data provider', () => {
  let t: TestApp;
  let directory: string;
  let covered: Set<string>;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wms-coverage-'));
    // GridFS, so the file store's documents are in the database scanned; websockets on, so the realtime provider is there.
    t = await startTestApp({
      ATTACHMENT_STORAGE: 'gridfs',
      ATTACHMENTS_DIR: directory,
      ENABLE_WEBSOCKETS: 'true',
      CHAT_RATE_LIMIT_PER_MINUTE: '10000',
    });
    await seedUser(t, USER_ID, { conversations: 2 });
    await seedComplianceRecords(t);
    covered = new Set(
      t.app
        .get(UserDataRegistry)
        .userDataProviders()
        .flatMap((provider) => provider.holdings.flatMap((holding) => holding.userFields.map((field) => `${holding.store} ${field}`))),
    );
  });
  afterAll(async () => {
    await t.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('covers every (collection, field) whose documents hold the user’s id', async () => {
    const found = await fieldsHolding(t.db, USER_ID);
    // The scan itself sees the seeded data.
    expect(found).toEqual(
      expect.arrayContaining([
        'chat_conversations userId',
        'chat_messages userId',
        'chat_attachment_files.files metadata.userId',
        'chat_data_exports subjectUserId',
        'chat_legal_holds targetId',
        'chat_legal_holds placedBy.userId',
        'chat_retention_policies updatedBy.userId',
        'chat_audit_log subject.userId',
      ]),
    );
    const uncovered = found.filter((pair) => !covered.has(pair));
    expect(uncovered).toEqual([]);
  });

  it('covers every user field of every Mongoose model, with data or without', () => {
    const connection = t.app.get<mongoose.Connection>(getConnectionToken());
    const userFields = Object.values(connection.models).flatMap((model) =>
      schemaPaths(model.schema)
        .filter((path) => USER_FIELD.test(path))
        .map((path) => `${model.collection.collectionName} ${path}`),
    );
    expect(userFields).toEqual(expect.arrayContaining(['chat_conversations userId', 'chat_user_preferences userId']));
    // A subdocument naming a user (`requestedBy`) is covered by a holding of a field in it (`requestedBy.userId`).
    const coveredWithin = (pair: string) => covered.has(pair) || [...covered].some((field) => field.startsWith(`${pair}.`));
    const uncovered = userFields.filter((pair) => !coveredWithin(pair));
    expect(uncovered).toEqual([]);
  });
});
