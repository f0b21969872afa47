import type { Migration } from '../src/database/migrations/migration.js';
import { createChatCollections } from './0001-create-chat-collections.js';

/** Every migration, in id order. A new migration is a new file here and one line below. */
export const MIGRATIONS: readonly Migration[] = [createChatCollections];
