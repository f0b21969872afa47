import { Global, Injectable, Module } from '@nestjs/common';
import type { ConversationDataProvider, UserDataProvider } from './user-data.js';

/**
 * Where modules register their user-data and conversation-data providers (from `onModuleInit`),
 * and where compliance finds them. Registration order is kept: it is the order of exports.
 */
@Injectable()
export class UserDataRegistry {
  private readonly userData = new Map<string, UserDataProvider>();
  private readonly conversationData = new Map<string, ConversationDataProvider>();

  registerUserData(provider: UserDataProvider): void {
    if (this.userData.has(provider.name)) throw new Error(`A user-data provider named ${provider.name} is already registered`);
    this.userData.set(provider.name, provider);
  }

  registerConversationData(provider: ConversationDataProvider): void {
    if (this.conversationData.has(provider.name))
      throw new Error(`A conversation-data provider named ${provider.name} is already registered`);
    this.conversationData.set(provider.name, provider);
  }

  userDataProviders(): UserDataProvider[] {
    return [...this.userData.values()];
  }

  conversationDataProviders(): ConversationDataProvider[] {
    return [...this.conversationData.values()];
  }
}

@Global()
@Module({ providers: [UserDataRegistry], exports: [UserDataRegistry] })
export class UserDataModule {}
