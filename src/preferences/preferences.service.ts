import { HttpStatus, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import mongoose from 'mongoose';
import { AppException, ResourceNotFoundException, ValidationFailedException } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { CreateFactDto, LearnedFactDto, PreferencesDto, UpdatePreferencesDto } from './dto/preferences.dto.js';
import { PreferencesRecord, PreferencesRepository } from './preferences.repository.js';
import { MAX_FACTS } from './schemas/user-preferences.schema.js';

const PREFERENCE_SETTINGS = [
  'language',
  'responseStyle',
  'defaultAgentKey',
  'notifications',
] as const satisfies readonly (keyof UpdatePreferencesDto)[];

const DEFAULTS: PreferencesDto = {
  language: null,
  responseStyle: null,
  defaultAgentKey: null,
  notifications: { replyCompleted: true },
  facts: [],
};

@Injectable()
export class PreferencesService {
  constructor(private readonly preferences: PreferencesRepository) {}

  async get(ownerId: string): Promise<PreferencesDto> {
    const record = await this.preferences.find(ownerId);
    return record ? toPreferencesDto(record) : structuredClone(DEFAULTS);
  }

  async replace(ownerId: string, dto: UpdatePreferencesDto): Promise<PreferencesDto> {
    // A PUT without a single setting is a client mistake (an empty or lost body), never a reset.
    if (PREFERENCE_SETTINGS.every((setting) => dto[setting] === undefined)) {
      throw ValidationFailedException.forField(
        'body',
        `body must give at least one of ${PREFERENCE_SETTINGS.join(', ')}; settings left out return to their defaults`,
      );
    }
    const record = await this.preferences.replaceSettings(ownerId, {
      language: dto.language ?? null,
      responseStyle: dto.responseStyle ?? null,
      defaultAgentKey: dto.defaultAgentKey ?? null,
      notifications: { replyCompleted: dto.notifications?.replyCompleted ?? true },
    });
    return toPreferencesDto(record);
  }

  async addFact(ownerId: string, dto: CreateFactDto): Promise<LearnedFactDto> {
    const fact = { id: randomBytes(8).toString('hex'), text: dto.text.trim(), createdAt: new Date() };
    let record: PreferencesRecord | null;
    try {
      record = await this.preferences.addFact(ownerId, fact);
    } catch (error) {
      // The upsert of a user at the fact limit collides with their own document: the limit, not a conflict.
      if (!(error instanceof mongoose.mongo.MongoServerError && error.code === 11000)) throw error;
      record = null;
    }
    if (!record) {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.FACT_LIMIT_REACHED,
        `You can keep at most ${MAX_FACTS} facts; delete one first`,
      );
    }
    return toFactDto(fact);
  }

  async removeFact(ownerId: string, factId: string): Promise<void> {
    if (!(await this.preferences.removeFact(ownerId, factId))) {
      throw new ResourceNotFoundException(ErrorCode.NOT_FOUND, 'Fact not found');
    }
  }
}

function toFactDto(fact: { id: string; text: string; createdAt: Date }): LearnedFactDto {
  return { id: fact.id, text: fact.text, createdAt: fact.createdAt.toISOString() };
}

function toPreferencesDto(record: PreferencesRecord): PreferencesDto {
  return {
    language: record.language ?? null,
    responseStyle: record.responseStyle ?? null,
    defaultAgentKey: record.defaultAgentKey ?? null,
    notifications: { replyCompleted: record.notifications?.replyCompleted ?? true },
    facts: (record.facts ?? []).map(toFactDto),
  };
}
