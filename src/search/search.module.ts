import { DynamicModule, Module } from '@nestjs/common';
import { ConversationsModule } from '../conversations/conversations.module.js';
import { MessagesModule } from '../messages/messages.module.js';
import { SearchController } from './search.controller.js';
import { SearchService } from './search.service.js';

/** Search over messages, titles and the attachments module's files (given as the configured module). */
@Module({})
export class SearchModule {
  static withAttachments(attachments: DynamicModule): DynamicModule {
    return {
      module: SearchModule,
      imports: [ConversationsModule, MessagesModule, attachments],
      controllers: [SearchController],
      providers: [SearchService],
      exports: [SearchService],
    };
  }
}
