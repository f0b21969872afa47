import { DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { RateLimiter } from '../common/rate-limit/rate-limiter.js';
import { ConversationsModule } from '../conversations/conversations.module.js';
import { MessagesModule } from '../messages/messages.module.js';
import { PreferencesModule } from '../preferences/preferences.module.js';
import { ConnectionSlots } from './connection-slots.js';
import { PlainWebSocketServer } from './plain-websocket.server.js';
import { RealtimeSessions } from './realtime-sessions.js';
import { RealtimeUserDataProvider } from './realtime-user-data.provider.js';
import { RealtimeGateway } from './realtime.gateway.js';
import { RealtimeHub } from './realtime.hub.js';

/** Mounted only with ENABLE_WEBSOCKETS=true (see AppModule). */
@Module({})
export class RealtimeModule {
  /**
   * Socket.IO (RealtimeGateway, `/ws`) and the plain WebSocket (PlainWebSocketServer,
   * `/ws/chat/<id>`) share the rules (RealtimeSessions) and the delivery (RealtimeHub).
   * `chat` is the application's one configured ChatModule (see AppModule), so socket sends go
   * through the same chat turn as REST ones. The RateLimiter here counts socket events (the
   * flood limit, WEBSOCKET_EVENTS_PER_MINUTE); the send budget is the chat turn's.
   */
  static forRoot(options: { chat: DynamicModule }): DynamicModule {
    return {
      module: RealtimeModule,
      imports: [AuthModule, options.chat, ConversationsModule, MessagesModule, PreferencesModule],
      // RealtimeUserDataProvider registers with the global UserDataRegistry (UserDataModule).
      providers: [
        ConnectionSlots,
        RealtimeSessions,
        RealtimeGateway,
        PlainWebSocketServer,
        RealtimeHub,
        RateLimiter,
        RealtimeUserDataProvider,
      ],
    };
  }
}
