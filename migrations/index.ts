import type { Migration } from '../src/database/migrations/migration.js';
import { createChatCollections } from './0001-create-chat-collections.js';
import { seedWarehouseAgents } from './0002-seed-warehouse-agents.js';
import { preferencesFeedbackReplyStatus } from './0003-preferences-feedback-reply-status.js';
import { chatAttachments } from './0004-chat-attachments.js';
import { searchTerms } from './0005-search-terms.js';
import { attachmentFilesIndexes } from './0006-attachment-files-indexes.js';
import { searchTermPairs } from './0007-search-term-pairs.js';
import { scheduledJobs } from './0008-scheduled-jobs.js';
import { auditLog } from './0009-audit-log.js';
import { userDataIndexes } from './0010-user-data-indexes.js';
import { dataExports } from './0011-data-exports.js';
import { legalHoldsAndRetentionPolicies } from './0012-legal-holds-and-retention-policies.js';
import { erasures } from './0013-erasures.js';
import { analytics } from './0014-analytics.js';
import { legacyImport } from './0015-legacy-import.js';

/** Every migration, in id order. A new migration is a new file here and one line below. */
export const MIGRATIONS: readonly Migration[] = [
  createChatCollections,
  seedWarehouseAgents,
  preferencesFeedbackReplyStatus,
  chatAttachments,
  searchTerms,
  attachmentFilesIndexes,
  searchTermPairs,
  scheduledJobs,
  auditLog,
  userDataIndexes,
  dataExports,
  legalHoldsAndRetentionPolicies,
  erasures,
  analytics,
  legacyImport,
];
