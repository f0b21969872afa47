import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { ChatModule } from '../chat/chat.module.js';
import { RateLimiter } from '../common/rate-limit/rate-limiter.js';
import { ConversationsModule } from '../conversations/conversations.module.js';
import { MessagesModule } from '../messages/messages.module.js';
import { PreferencesModule } from '../preferences/preferences.module.js';
import { RealtimeGateway } from './realtime.gateway.js';
import { RealtimeHub } from './realtime.hub.js';

/** Mounted only with ENABLE_WEBSOCKETS=true (see AppModule). */
@Module({
  imports: [AuthModule, ChatModule, ConversationsModule, MessagesModule, PreferencesModule],
  providers: [RealtimeGateway, RealtimeHub, RateLimiter],
})
export class RealtimeModule {}
