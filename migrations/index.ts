import type { Migration } from '../src/database/migrations/migration.js';
import { createChatCollections } from './0001-create-chat-collections.js';
import { seedWarehouseAgents } from './0002-seed-warehouse-agents.js';
import { preferencesFeedbackReplyStatus } from './0003-preferences-feedback-reply-status.js';
import { chatAttachments } from './0004-chat-attachments.js';

/** Every migration, in id order. A new migration is a new file here and one line below. */
export const MIGRATIONS: readonly Migration[] = [
  createChatCollections,
  seedWarehouseAgents,
  preferencesFeedbackReplyStatus,
  chatAttachments,
];
