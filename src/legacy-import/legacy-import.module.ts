import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { AgentsModule } from '../agents/agents.module.js';
import { AuditModule } from '../compliance/audit/audit.module.js';
import { ErasureModule } from '../compliance/erasure/erasure.module.js';
import { ConversationsModule } from '../conversations/conversations.module.js';
import { MessagesModule } from '../messages/messages.module.js';
import { LegacyConversationsRepository } from './legacy-conversations.repository.js';
import { LegacyImportRunner } from './legacy-import-runner.js';
import { LegacyImportRunsRepository } from './legacy-import-runs.repository.js';
import { LegacyImportController } from './legacy-import.controller.js';
import { LegacyImportService } from './legacy-import.service.js';
import { LegacyImportRun, LegacyImportRunSchema } from './schemas/legacy-import-run.schema.js';
import { LegacyConversation, LegacyConversationSchema } from './schemas/legacy-conversation.schema.js';

/**
 * The import of the legacy in-memory store's dump (`chat_backup.json`), for the switch-over:
 * `npm run import:legacy` and the admin route take the same file, as often as needed.
 */
@Module({
  imports: [
    ConversationsModule,
    MessagesModule,
    AgentsModule,
    AuditModule,
    ErasureModule,
    MongooseModule.forFeature([
      { name: LegacyConversation.name, schema: LegacyConversationSchema },
      { name: LegacyImportRun.name, schema: LegacyImportRunSchema },
    ]),
  ],
  controllers: [LegacyImportController],
  providers: [LegacyConversationsRepository, LegacyImportService, LegacyImportRunsRepository, LegacyImportRunner],
  exports: [LegacyImportService],
})
export class LegacyImportModule {}
