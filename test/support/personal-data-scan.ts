import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import mongoose from 'mongoose';
import type { TestApp } from './test-app.js';

/**
 * Every place where one of `needles` (compared case-insensitively) is still stored: any string,
 * key or binary value (GridFS chunks, read as UTF-8) of any document in any collection of the
 * database, and the name or bytes of any file under `directories`. Answers `collection _id: needle`
 * and `file path: needle` lines, so a failing test says where.
 */
export async function findStored(db: TestApp['db'], directories: readonly string[], needles: readonly string[]): Promise<string[]> {
  const wanted = needles.map((needle) => needle.toLowerCase());
  const found: string[] = [];
  const check = (where: string, text: string) => {
    const lower = text.toLowerCase();
    for (const needle of wanted) if (lower.includes(needle)) found.push(`${where}: ${needle}`);
  };
  const collections = (await db.listCollections({}, { nameOnly: true }).toArray()).map((collection) => collection.name).sort();
  for (const collection of collections) {
    for await (const document of db.collection(collection).find({})) {
      const where = `${collection} ${String(document._id)}`;
      walk(document, (text) => check(where, text));
    }
  }
  for (const directory of directories) {
    for (const path of await filesUnder(directory)) {
      check(`file ${relative(directory, path)}`, relative(directory, path));
      check(`file ${relative(directory, path)}`, (await readFile(path)).toString('utf8'));
    }
  }
  return found;
}

function walk(node: unknown, visit: (text: string) => void): void {
  if (typeof node === 'string') visit(node);
  else if (node instanceof mongoose.mongo.Binary) visit(Buffer.from(node.buffer).toString('utf8'));
  else if (Array.isArray(node)) node.forEach((item) => walk(item, visit));
  else if (node !== null && typeof node === 'object' && Object.getPrototypeOf(node) === Object.prototype) {
    for (const [key, child] of Object.entries(node)) {
      visit(key);
      walk(child, visit);
    }
  }
}

/** Every file under `directory`, recursively (none when it does not exist). */
export async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}
