import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { AgentsModule } from '../agents/agents.module.js';
import { PreferencesModule } from '../preferences/preferences.module.js';
import { ConversationsUserDataProvider } from './conversations-user-data.provider.js';
import { ConversationsController } from './conversations.controller.js';
import { ConversationsRepository } from './conversations.repository.js';
import { ConversationsService } from './conversations.service.js';
import { Conversation, ConversationSchema } from './schemas/conversation.schema.js';

@Module({
  imports: [AgentsModule, PreferencesModule, MongooseModule.forFeature([{ name: Conversation.name, schema: ConversationSchema }])],
  controllers: [ConversationsController],
  // ConversationsUserDataProvider registers with the global UserDataRegistry (UserDataModule).
  providers: [ConversationsRepository, ConversationsService, ConversationsUserDataProvider],
  exports: [ConversationsService],
})
export class ConversationsModule {}
