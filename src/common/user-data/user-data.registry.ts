import { Global, Injectable, Module } from '@nestjs/common';
import type { DeletionGuard, DeletionTarget } from './deletion-guard.js';
import type { ConversationDataProvider, UserDataProvider } from './user-data.js';

/**
 * Where modules register their user-data and conversation-data providers and their deletion
 * guards (from `onModuleInit`), and where compliance finds the providers and the deleting modules
 * the guards. Registration order is kept: it is the order of exports.
 */
@Injectable()
export class UserDataRegistry {
  private readonly userData = new Map<string, UserDataProvider>();
  private readonly conversationData = new Map<string, ConversationDataProvider>();
  private readonly deletionGuards = new Map<string, DeletionGuard>();

  registerUserData(provider: UserDataProvider): void {
    if (this.userData.has(provider.name)) throw new Error(`A user-data provider named ${provider.name} is already registered`);
    this.userData.set(provider.name, provider);
  }

  registerConversationData(provider: ConversationDataProvider): void {
    if (this.conversationData.has(provider.name))
      throw new Error(`A conversation-data provider named ${provider.name} is already registered`);
    this.conversationData.set(provider.name, provider);
  }

  registerDeletionGuard(guard: DeletionGuard): void {
    if (this.deletionGuards.has(guard.name)) throw new Error(`A deletion guard named ${guard.name} is already registered`);
    this.deletionGuards.set(guard.name, guard);
  }

  /** Asks every deletion guard before a user destroys something for good; the first refusal is thrown. */
  async assertMayDelete(target: DeletionTarget): Promise<void> {
    for (const guard of this.deletionGuards.values()) await guard.assertMayDelete(target);
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
