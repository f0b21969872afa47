import { Injectable, OnModuleInit } from '@nestjs/common';
import { asyncIterableOf } from '../common/user-data/async-iterable.js';
import { UserDataRegistry } from '../common/user-data/user-data.registry.js';
import type { DataCounts, ExportPart, Pseudonymisation, UserDataHolding, UserDataProvider } from '../common/user-data/user-data.js';
import { PreferencesRecord, PreferencesRepository } from './preferences.repository.js';
import { PREFERENCES_COLLECTION } from './schemas/user-preferences.schema.js';

/**
 * A user's preferences and kept facts (chat_user_preferences, one document per user): listed,
 * exported and erased for compliance. Everything in it describes the person, and none of it feeds
 * an aggregate, so pseudonymising removes it as erasing does.
 */
@Injectable()
export class PreferencesUserDataProvider implements UserDataProvider, OnModuleInit {
  readonly name = 'preferences';
  readonly holdings: readonly UserDataHolding[] = [
    {
      store: PREFERENCES_COLLECTION,
      userFields: ['userId'],
      description:
        'Preferences (language, response style, default agent, notifications) and the facts the user asked the assistant to keep.',
    },
  ];

  constructor(
    private readonly registry: UserDataRegistry,
    private readonly preferences: PreferencesRepository,
  ) {}

  onModuleInit(): void {
    this.registry.registerUserData(this);
  }

  async inventory(userId: string): Promise<DataCounts> {
    return { [PREFERENCES_COLLECTION]: (await this.preferences.find(userId)) ? 1 : 0 };
  }

  async *export(userId: string): AsyncGenerator<ExportPart> {
    // One small document: read once, shown whole in JSON and its facts one per row in CSV.
    const record = await this.preferences.find(userId);
    yield {
      kind: 'records',
      name: 'preferences',
      description: 'Your settings (language, response style, default agent, notifications) with the facts you asked the assistant to keep.',
      records: asyncIterableOf(record ? [toPreferencesRecord(record)] : []),
      csvColumns: ['language', 'responseStyle', 'defaultAgentKey', 'notifications.replyCompleted', 'createdAt', 'updatedAt'],
    };
    yield {
      kind: 'records',
      name: 'facts',
      description: 'The facts you asked the assistant to keep about you (also inside preferences), one per record.',
      records: asyncIterableOf(
        (record?.facts ?? []).map((fact) => ({ id: fact.id, text: fact.text, createdAt: fact.createdAt.toISOString() })),
      ),
      csvColumns: ['id', 'text', 'createdAt'],
    };
  }

  async erase(userId: string): Promise<DataCounts> {
    return { [PREFERENCES_COLLECTION]: await this.preferences.deleteOwned(userId) };
  }

  async pseudonymise(request: Pseudonymisation): Promise<DataCounts> {
    return { [PREFERENCES_COLLECTION]: await this.preferences.deleteOwned(request.userId) };
  }
}

function toPreferencesRecord(record: PreferencesRecord): Record<string, unknown> {
  return {
    language: record.language ?? null,
    responseStyle: record.responseStyle ?? null,
    defaultAgentKey: record.defaultAgentKey ?? null,
    notifications: { replyCompleted: record.notifications?.replyCompleted ?? true },
    facts: (record.facts ?? []).map((fact) => ({ id: fact.id, text: fact.text, createdAt: fact.createdAt.toISOString() })),
    createdAt: record.createdAt?.toISOString() ?? null,
    updatedAt: record.updatedAt?.toISOString() ?? null,
  };
}
