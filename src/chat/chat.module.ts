import { DynamicModule, Module } from '@nestjs/common';
import { AttachmentsContextContributor } from '../attachments/attachments-context.contributor.js';
import { CONTEXT_CONTRIBUTORS, type ContextContributor } from '../common/context/context-contributor.js';
import { AgentsModule } from '../agents/agents.module.js';
import { RateLimiter } from '../common/rate-limit/rate-limiter.js';
import { ConversationsModule } from '../conversations/conversations.module.js';
import { MessagesModule } from '../messages/messages.module.js';
import { PreferencesModule } from '../preferences/preferences.module.js';
import { ChatController } from './chat.controller.js';
import { ChatService } from './chat.service.js';
import { ContextBuilder } from './context-builder.js';
import { OpenAiCompatibleProvider } from './providers/openai-compatible.provider.js';
import { PlaybookProvider } from './providers/playbook.provider.js';
import { ProviderRegistry } from './providers/provider-registry.js';

@Module({
  imports: [ConversationsModule, MessagesModule, AgentsModule, PreferencesModule],
  controllers: [ChatController],
  providers: [ChatService, ContextBuilder, PlaybookProvider, OpenAiCompatibleProvider, ProviderRegistry, RateLimiter],
  exports: [ChatService],
})
export class ChatModule {
  /** The chat turn with the features that add context to its prompt (the text of attached files). */
  static withContextFrom(attachments: DynamicModule): DynamicModule {
    return {
      module: ChatModule,
      imports: [attachments],
      providers: [
        {
          provide: CONTEXT_CONTRIBUTORS,
          inject: [AttachmentsContextContributor],
          useFactory: (...contributors: ContextContributor[]) => contributors,
        },
      ],
    };
  }
}
