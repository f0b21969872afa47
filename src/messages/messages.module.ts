import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { ConversationsModule } from '../conversations/conversations.module.js';
import { ConversationCountsJob } from './conversation-counts.job.js';
import { MessageCache } from './message-cache.js';
import { MessagesUserDataProvider } from './messages-user-data.provider.js';
import { MessagesController } from './messages.controller.js';
import { MessagesRepository } from './messages.repository.js';
import { MessagesService } from './messages.service.js';
import { Message, MessageSchema } from './schemas/message.schema.js';

@Module({
  imports: [ConversationsModule, MongooseModule.forFeature([{ name: Message.name, schema: MessageSchema }])],
  controllers: [MessagesController],
  // ConversationCountsJob registers with the global JobScheduler (JobsModule), MessagesUserDataProvider
  // with the global UserDataRegistry (UserDataModule).
  providers: [MessagesRepository, MessageCache, MessagesService, ConversationCountsJob, MessagesUserDataProvider],
  exports: [MessagesService],
})
export class MessagesModule {}
