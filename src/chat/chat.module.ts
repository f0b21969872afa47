import { DynamicModule, Module } from '@nestjs/common';
import { AttachmentsContextContributor } from '../attachments/attachments-context.contributor.js';
import { CONTEXT_CONTRIBUTORS, type ContextContributor } from '../common/context/context-contributor.js';
import { AgentsModule } from '../agents/agents.module.js';
import { SharedRateLimiter } from '../common/rate-limit/rate-limiter.js';
import { ConversationsModule } from '../conversations/conversations.module.js';
import { MessagesModule } from '../messages/messages.module.js';
import { PreferencesModule } from '../preferences/preferences.module.js';
import { ChatController } from './chat.controller.js';
import { ChatService } from './chat.service.js';
import { ContextBuilder } from './context-builder.js';
import { OpenAiCompatibleProvider } from './providers/openai-compatible.provider.js';
import { PlaybookProvider } from './providers/playbook.provider.js';
import { ProviderRegistry } from './providers/provider-registry.js';

/**
 * The chat turn. There is exactly one: AppModule builds it once with `withContextFrom` and hands
 * that same module to every module that sends messages (the realtime gateway), so REST and
 * socket sends share one ChatService: one turn queue per conversation, one send budget
 * (CHAT_RATE_LIMIT_PER_MINUTE) per user, one prompt builder with every context contributor.
 * The plain class provides and exports nothing, so importing it instead fails at boot rather
 * than building a second chat turn.
 */
@Module({})
export class ChatModule {
  /** The chat turn with the features that add context to its prompt (the text of attached files). */
  static withContextFrom(attachments: DynamicModule): DynamicModule {
    return {
      module: ChatModule,
      imports: [ConversationsModule, MessagesModule, AgentsModule, PreferencesModule, attachments],
      controllers: [ChatController],
      providers: [
        ChatService,
        ContextBuilder,
        PlaybookProvider,
        OpenAiCompatibleProvider,
        ProviderRegistry,
        // The per-user send budget; the realtime module's own limiter only counts socket events.
        SharedRateLimiter,
        {
          provide: CONTEXT_CONTRIBUTORS,
          inject: [AttachmentsContextContributor],
          useFactory: (...contributors: ContextContributor[]) => contributors,
        },
      ],
      exports: [ChatService],
    };
  }
}
