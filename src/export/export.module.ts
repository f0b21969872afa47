import { DynamicModule, Module } from '@nestjs/common';
import { AuditModule } from '../compliance/audit/audit.module.js';
import { ConversationsModule } from '../conversations/conversations.module.js';
import { MessagesModule } from '../messages/messages.module.js';
import { AdminExportController } from './admin-export.controller.js';
import { ExportController } from './export.controller.js';
import { ExportService } from './export.service.js';

/**
 * Exports of conversations and histories (off with ENABLE_CHAT_EXPORT=false: 404 and absent from
 * the API docs) and the admins' incremental message export for analytics, which stays on.
 */
@Module({})
export class ExportModule {
  static forRoot(options: { userExports: boolean; attachments: DynamicModule }): DynamicModule {
    return {
      module: ExportModule,
      imports: [ConversationsModule, MessagesModule, options.attachments, AuditModule],
      controllers: [...(options.userExports ? [ExportController] : []), AdminExportController],
      providers: [ExportService],
    };
  }
}
