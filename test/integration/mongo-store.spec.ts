import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import request from 'supertest';
import { createApp } from '../../src/bootstrap.js';
import { loadAppConfig } from '../../src/common/config/app-config.js';
import { EMBEDDED_STORE_JAR, resolveMongoStore } from '../../src/database/store/mongo-store.js';
import { TEST_JWT_SECRET } from '../support/test-app.js';
import jwt from 'jsonwebtoken';

async function ping(uri: string): Promise<void> {
  const client = await new mongoose.mongo.MongoClient(uri, { serverSelectionTimeoutMS: 5000 }).connect();
  try {
    expect(await client.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
  } finally {
    await client.close();
  }
}

describe('resolveMongoStore', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'wms-chat-store-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('uses MONGODB_URI as given and starts nothing', async () => {
    const store = await resolveMongoStore({ uri: 'mongodb://user:secret@db.example:27017/chat', persistence: { dataDir } });
    expect(store).toMatchObject({ kind: 'external', uri: 'mongodb://user:secret@db.example:27017/chat' });
    expect(store.description).not.toContain('secret');
    await store.stop();
  });

  it('keeps the app’s data across a restart of app and embedded store', async () => {
    const config = loadAppConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent' });
    const auth = {
      Authorization: `Bearer ${jwt.sign({ sub: 'persistent', roles: ['supervisor'] }, TEST_JWT_SECRET, { expiresIn: '1h' })}`,
    };

    const firstStore = await resolveMongoStore({ persistence: { dataDir } });
    expect(firstStore.kind).toBe('mongo-java-server');
    expect(firstStore.description).toContain(join(dataDir, 'embedded-store'));
    const firstApp = await createApp({ config, database: { uri: firstStore.uri, dbName: 'chat' } });
    await firstApp.init();
    const created = await request(firstApp.getHttpServer())
      .post('/api/v1/chat/conversations')
      .set(auth)
      .send({ title: 'Survives' })
      .expect(201);
    await request(firstApp.getHttpServer())
      .post(`/api/v1/chat/conversations/${created.body.id}/messages`)
      .set(auth)
      .send({ content: 'still here?', reply: false })
      .expect(201);
    await firstApp.close();
    await firstStore.stop();

    const secondStore = await resolveMongoStore({ persistence: { dataDir } });
    const secondApp = await createApp({ config, database: { uri: secondStore.uri, dbName: 'chat' } });
    try {
      await secondApp.init();
      const conversation = await request(secondApp.getHttpServer())
        .get(`/api/v1/chat/conversations/${created.body.id}`)
        .set(auth)
        .expect(200);
      expect(conversation.body).toMatchObject({ title: 'Survives', messageCount: 1 });
      const messages = await request(secondApp.getHttpServer())
        .get(`/api/v1/chat/conversations/${created.body.id}/messages`)
        .set(auth)
        .expect(200);
      expect(messages.body.items.map((item: { content: string }) => item.content)).toEqual(['still here?']);
      const next = await request(secondApp.getHttpServer())
        .post(`/api/v1/chat/conversations/${created.body.id}/messages`)
        .set(auth)
        .send({ content: 'yes', reply: false })
        .expect(201);
      expect(next.body.userMessage.seq).toBe(2);
    } finally {
      await secondApp.close();
      await secondStore.stop();
    }
  }, 60_000);

  it('prefers a mongod binary when one is available', async () => {
    // A stand-in for mongod that accepts mongod's arguments and serves the wire protocol.
    const fakeMongod = join(dataDir, 'mongod');
    writeFileSync(
      fakeMongod,
      `#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in --port) PORT="$2"; shift;; esac; shift; done\nexec java -jar "${EMBEDDED_STORE_JAR}" --memory --port "$PORT" --foreground\n`,
    );
    chmodSync(fakeMongod, 0o755);
    const store = await resolveMongoStore({ persistence: 'memory', mongodBinary: fakeMongod });
    try {
      expect(store.kind).toBe('mongod');
      await ping(store.uri);
    } finally {
      await store.stop();
    }
  }, 60_000);

  it('explains a mongod that fails to start', async () => {
    const broken = join(dataDir, 'mongod');
    writeFileSync(broken, '#!/bin/sh\necho "dbpath is not writable" >&2\nexit 1\n');
    chmodSync(broken, 0o755);
    await expect(resolveMongoStore({ persistence: 'memory', mongodBinary: broken })).rejects.toThrow(
      /failed to start: dbpath is not writable/,
    );
  });
});
