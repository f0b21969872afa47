import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import mongoose from 'mongoose';
import { startAppProcess } from '../support/app-process.js';
import { runCli } from '../support/cli.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const API = '/api/v1/chat';
const BACKUP_CLI = 'dist/src/database/backup/backup.cli.js';
const RESTORE_CLI = 'dist/src/database/backup/restore.cli.js';

/** Every file under `root`, by its path relative to it, with its bytes. */
async function filesUnder(root: string): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  const walk = async (directory: string) => {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) await walk(path);
      else found.set(relative(root, path), await readFile(path));
    }
  };
  if (existsSync(root)) await walk(root);
  return found;
}

/** Every collection of a database with its documents in _id order (the store's own indexes left out). */
async function contentsOf(db: mongoose.mongo.Db): Promise<Record<string, unknown[]>> {
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => !n.startsWith('system.'));
  const contents: Record<string, unknown[]> = {};
  for (const name of names.sort()) contents[name] = await db.collection(name).find({}).sort({ _id: 1 }).toArray();
  return contents;
}

(existsSync(BACKUP_CLI) ? describe : describe.skip)(
  'npm run backup / npm run restore (the built commands; skipped when dist/ is not built)',
  () => {
    const directories: string[] = [];
    const apps: TestApp[] = [];
    const directory = async (prefix: string) => {
      const path = await mkdtemp(join(tmpdir(), prefix));
      directories.push(path);
      return path;
    };
    const start = async (attachmentsDir: string, dbName?: string) => {
      const app = await startTestApp({ ATTACHMENTS_DIR: attachmentsDir }, dbName ? { dbName } : {});
      apps.push(app);
      return app;
    };

    afterAll(async () => {
      for (const app of apps) await app.close();
      await Promise.all(directories.map((path) => rm(path, { recursive: true, force: true })));
    });

    /** Conversations, messages, a processed attachment and search terms, written through the API. */
    async function seed(app: TestApp): Promise<{ conversationId: string; attachmentId: string }> {
      const conversationId = (
        await app.http().post(`${API}/conversations`).set(app.auth('rosa')).send({ title: 'Dock 4 pallets' }).expect(201)
      ).body.id;
      for (const content of ['Where do the damaged pallets from dock 4 go?', 'And the shrink wrap for them?']) {
        await app
          .http()
          .post(`${API}/conversations/${conversationId}/messages`)
          .set(app.auth('rosa'))
          .send({ content, reply: false })
          .expect(201);
      }
      const question = await app
        .http()
        .post(`${API}/conversations/${conversationId}/messages`)
        .set(app.auth('rosa'))
        .send({ content: 'Here is the count sheet', reply: false })
        .expect(201);
      const upload = await app
        .http()
        .post(`${API}/messages/${question.body.userMessage.id}/attachments`)
        .set(app.auth('rosa'))
        .attach('file', Buffer.from('Count sheet: aisle 12, 48 cartons of shrink wrap\n'), 'count-sheet.txt')
        .expect(201);
      const attachmentId = upload.body.items[0].id as string;
      for (let waited = 0; ; waited += 100) {
        const body = (await app.http().get(`${API}/attachments/${attachmentId}`).set(app.auth('rosa')).expect(200)).body;
        if (body.processingStatus !== 'pending') break;
        if (waited > 20_000) throw new Error('the attachment was not processed');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const other = (await app.http().post(`${API}/conversations`).set(app.auth('omar')).send({}).expect(201)).body.id;
      await app
        .http()
        .post(`${API}/conversations/${other}/messages`)
        .set(app.auth('omar'))
        .send({ content: 'Forklift 3 battery', reply: false })
        .expect(201);
      return { conversationId, attachmentId };
    }

    /** What a user sees through the API: conversations, one conversation's messages, a file and search results. */
    async function served(app: TestApp, conversationId: string, attachmentId: string) {
      const get = async (url: string) => (await app.http().get(url).set(app.auth('rosa')).expect(200)).body as unknown;
      const file = await app.http().get(`${API}/attachments/${attachmentId}/content`).set(app.auth('rosa')).expect(200);
      return {
        conversations: await get(`${API}/conversations`),
        messages: await get(`${API}/conversations/${conversationId}/messages`),
        file: file.text,
        search: await get(`${API}/messages/search?q=${encodeURIComponent('shrink wrap')}`),
      };
    }

    it('round trip: a backup restored into a fresh database serves the same conversations, messages, files and search results', async () => {
      const sourceFiles = await directory('wms-backup-source-');
      const source = await start(sourceFiles);
      const { conversationId, attachmentId } = await seed(source);
      // Number types that JavaScript alone would blur: a whole double, small and large int64, -0.
      const { Double, Int32, Long } = mongoose.mongo.BSON;
      await source.db.collection('numbers').insertOne({
        whole: new Double(3),
        small: Long.fromNumber(5),
        big: Long.fromString('1099511627776'),
        int: new Int32(7),
        negativeZero: new Double(-0),
      });
      const before = await served(source, conversationId, attachmentId);
      expect((before.search as { items: unknown[] }).items.length).toBeGreaterThan(0);

      const out = join(await directory('wms-backup-'), 'backup');
      const backup = await runCli(BACKUP_CLI, source.db.databaseName, ['--out', out], { ATTACHMENTS_DIR: sourceFiles });
      expect(backup).toMatchObject({ code: 0 });
      expect(backup.stdout).toMatch(/backed up \d+ collections \(\d+ documents\), 1 attachment files, schema \d{4}-/);
      const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as {
        collections: { name: string; documents: number }[];
        schemaVersion: string;
      };
      expect(manifest.collections.find((entry) => entry.name === 'chat_messages')?.documents).toBe(4);
      // One document a line, canonical Extended JSON (what mongoimport reads).
      const firstLine = (await readFile(join(out, 'collections', 'chat_conversations.jsonl'), 'utf8')).split('\n')[0]!;
      expect(JSON.parse(firstLine)).toMatchObject({ _id: { $oid: expect.any(String) }, createdAt: { $date: expect.anything() } });

      const targetFiles = await directory('wms-backup-target-');
      const targetDb = `test_${randomBytes(6).toString('hex')}`;
      const restore = await runCli(RESTORE_CLI, targetDb, ['--from', out], { ATTACHMENTS_DIR: targetFiles });
      expect(restore).toMatchObject({ code: 0 });
      expect(restore.stdout).toContain('counts checked');
      // Collection by collection, document by document (before an app starts on it and adds its own); file by file.
      const client = await new mongoose.mongo.MongoClient(process.env.TEST_MONGODB_URI!).connect();
      const original = await contentsOf(source.db);
      const restored = await contentsOf(client.db(targetDb));
      await client.close();
      const target = await start(targetFiles, targetDb);
      expect(Object.keys(restored)).toEqual(Object.keys(original));
      for (const name of Object.keys(original)) expect({ name, documents: restored[name] }).toEqual({ name, documents: original[name] });
      expect(await filesUnder(targetFiles)).toEqual(await filesUnder(sourceFiles));
      for (const name of Object.keys(original)) {
        const indexes = async (app: TestApp) =>
          (await app.db.collection(name).indexes()).map((index) => [index.name, index.key, !!index.unique]);
        expect({ name, indexes: await indexes(target) }).toEqual({ name, indexes: await indexes(source) });
      }
      expect(await served(target, conversationId, attachmentId)).toEqual(before);
      const numbers = await target.db.collection('numbers').findOne({}, { promoteValues: false, projection: { _id: 0 } });
      expect(
        Object.fromEntries(Object.entries(numbers!).map(([name, value]) => [name, (value as { _bsontype: string })._bsontype])),
      ).toEqual({
        whole: 'Double',
        small: 'Long',
        big: 'Long',
        int: 'Int32',
        negativeZero: 'Double',
      });
      expect(Object.is((numbers!.negativeZero as mongoose.mongo.BSON.Double).valueOf(), -0)).toBe(true);
    }, 120_000);

    it('refuses a damaged backup by its checksums, and a target holding data unless --force', async () => {
      const sourceFiles = await directory('wms-backup-source-');
      const source = await start(sourceFiles);
      await seed(source);
      const out = join(await directory('wms-backup-'), 'backup');
      expect(await runCli(BACKUP_CLI, source.db.databaseName, ['--out', out], { ATTACHMENTS_DIR: sourceFiles })).toMatchObject({ code: 0 });
      // A second backup into the same directory is refused (it would mix two moments).
      const again = await runCli(BACKUP_CLI, source.db.databaseName, ['--out', out], { ATTACHMENTS_DIR: sourceFiles });
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('is not empty');

      // Into a database that holds data: refused, nothing changed; with --force: replaced.
      const occupied = await start(await directory('wms-backup-occupied-'));
      const theirs = (await occupied.http().post(`${API}/conversations`).set(occupied.auth('ines')).send({}).expect(201)).body.id as string;
      const occupiedFiles = await directory('wms-backup-occupied-files-');
      const refused = await runCli(RESTORE_CLI, occupied.db.databaseName, ['--from', out], { ATTACHMENTS_DIR: occupiedFiles });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('--force');
      await occupied.http().get(`${API}/conversations/${theirs}`).set(occupied.auth('ines')).expect(200);
      const forced = await runCli(RESTORE_CLI, occupied.db.databaseName, ['--from', out, '--force'], { ATTACHMENTS_DIR: occupiedFiles });
      expect(forced).toMatchObject({ code: 0 });
      expect(await occupied.db.collection('chat_conversations').countDocuments({ userId: 'ines' })).toBe(0);
      expect(await occupied.db.collection('chat_messages').countDocuments({})).toBe(4);

      // One byte changed in a collection, then in a file: refused before anything is written.
      const messages = join(out, 'collections', 'chat_messages.jsonl');
      const original = await readFile(messages);
      const damaged = Buffer.from(original);
      damaged[10] = damaged[10] === 0x61 ? 0x62 : 0x61;
      await writeFile(messages, damaged);
      const emptyDb = `test_${randomBytes(6).toString('hex')}`;
      const corrupt = await runCli(RESTORE_CLI, emptyDb, ['--from', out], { ATTACHMENTS_DIR: await directory('wms-backup-empty-') });
      expect(corrupt.code).toBe(1);
      expect(corrupt.stderr).toContain('collections/chat_messages.jsonl: checksum mismatch');
      await writeFile(messages, original);
      const listed = JSON.parse((await readFile(join(out, 'files.jsonl'), 'utf8')).split('\n')[0]!) as { path: string };
      await writeFile(join(out, 'files', listed.path), 'tampered');
      const tampered = await runCli(RESTORE_CLI, emptyDb, ['--from', out], { ATTACHMENTS_DIR: await directory('wms-backup-empty-') });
      expect(tampered.code).toBe(1);
      expect(tampered.stderr).toContain(`files/${listed.path}: checksum mismatch`);
      const probe = await start(await directory('wms-backup-probe-'), emptyDb);
      expect(await probe.db.collection('chat_messages').countDocuments({})).toBe(0);
    }, 120_000);

    it('refuses an empty database, an output inside the attachments, a backup from a newer schema and file paths leading out', async () => {
      const emptyDb = `test_${randomBytes(6).toString('hex')}`;
      const nothing = await runCli(BACKUP_CLI, emptyDb, ['--out', join(await directory('wms-backup-'), 'backup')]);
      expect(nothing.code).toBe(1);
      expect(nothing.stderr).toContain('holds no collections');

      const sourceFiles = await directory('wms-backup-source-');
      const source = await start(sourceFiles);
      await seed(source);
      const inside = await runCli(BACKUP_CLI, source.db.databaseName, ['--out', join(sourceFiles, 'backup')], {
        ATTACHMENTS_DIR: sourceFiles,
      });
      expect(inside.code).toBe(1);
      expect(inside.stderr).toContain('overlap');
      expect(existsSync(join(sourceFiles, 'backup'))).toBe(false);

      const out = join(await directory('wms-backup-'), 'backup');
      expect(await runCli(BACKUP_CLI, source.db.databaseName, ['--out', out], { ATTACHMENTS_DIR: sourceFiles })).toMatchObject({ code: 0 });
      const manifestPath = join(out, 'manifest.json');
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { schemaVersion: string; files: Record<string, unknown> };
      const restore = async () => runCli(RESTORE_CLI, emptyDb, ['--from', out], { ATTACHMENTS_DIR: await directory('wms-backup-target-') });

      await writeFile(manifestPath, JSON.stringify({ ...manifest, schemaVersion: '9999-from-a-later-version' }));
      const newer = await restore();
      expect(newer.code).toBe(1);
      expect(newer.stderr).toContain('newer than this version');

      // A list whose checksum matches (rewritten with the manifest) but names a path out of the attachments directory.
      const list = Buffer.from(`${JSON.stringify({ path: '../manifest.json', bytes: 1, sha256: '0'.repeat(64) })}\n`);
      await writeFile(join(out, 'files.jsonl'), list);
      const listSha256 = createHash('sha256').update(list).digest('hex');
      await writeFile(manifestPath, JSON.stringify({ ...manifest, files: { ...manifest.files, listBytes: list.length, listSha256 } }));
      const escaping = await restore();
      expect(escaping.code).toBe(1);
      expect(escaping.stderr).toContain('"../manifest.json" is not a path within the attachments directory');
      const client = await new mongoose.mongo.MongoClient(process.env.TEST_MONGODB_URI!).connect();
      expect(await client.db(emptyDb).listCollections().toArray()).toEqual([]);
      await client.close();
    }, 120_000);

    it('moves the data off the embedded store: a backup of the stopped app’s data file restored into another database serves the same', async () => {
      const dataDir = await directory('wms-backup-embedded-');
      const app = await startAppProcess({ DATA_DIR: dataDir });
      let seen: unknown[];
      try {
        const conversation = await app.request('POST', `${API}/conversations`, { sub: 'rosa', body: { title: 'Cycle count' } });
        expect(conversation.status).toBe(201);
        const id = conversation.body.id as string;
        for (const content of ['Cycle count for zone B starts at 6', 'Who signs off the variance?'])
          expect(
            (await app.request('POST', `${API}/conversations/${id}/messages`, { sub: 'rosa', body: { content, reply: false } })).status,
          ).toBe(201);
        seen = [
          (await app.request('GET', `${API}/conversations`, { sub: 'rosa' })).body,
          (await app.request('GET', `${API}/conversations/${id}/messages`, { sub: 'rosa' })).body,
        ];
      } finally {
        // The data file belongs to the running app: it is stopped first, as the README says.
        app.killGroup('SIGTERM');
        await app.exited;
      }
      const out = join(await directory('wms-backup-'), 'backup');
      const backup = await runCli(BACKUP_CLI, 'wms_chat', ['--out', out], { MONGODB_URI: undefined, DATA_DIR: dataDir });
      expect(backup).toMatchObject({ code: 0 });
      expect(backup.stdout).toContain('store: embedded');

      const targetDb = `test_${randomBytes(6).toString('hex')}`;
      const targetFiles = await directory('wms-backup-target-');
      expect(await runCli(RESTORE_CLI, targetDb, ['--from', out], { ATTACHMENTS_DIR: targetFiles })).toMatchObject({ code: 0 });
      const target = await start(targetFiles, targetDb);
      const [conversations, messages] = seen as [{ items: { id: string }[] }, unknown];
      expect((await target.http().get(`${API}/conversations`).set(target.auth('rosa')).expect(200)).body).toEqual(conversations);
      expect(
        (await target.http().get(`${API}/conversations/${conversations.items[0]!.id}/messages`).set(target.auth('rosa')).expect(200)).body,
      ).toEqual(messages);
    }, 180_000);
  },
);
