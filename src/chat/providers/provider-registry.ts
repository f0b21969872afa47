import { Injectable } from '@nestjs/common';
import type { AgentProvider } from '../../agents/schemas/agent.schema.js';
import { ChatProvider } from './chat-provider.js';
import { OpenAiCompatibleProvider } from './openai-compatible.provider.js';
import { PlaybookProvider } from './playbook.provider.js';

@Injectable()
export class ProviderRegistry {
  private readonly providers: Record<AgentProvider, ChatProvider>;

  constructor(playbook: PlaybookProvider, openAi: OpenAiCompatibleProvider) {
    this.providers = { playbook, 'openai-compatible': openAi };
  }

  for(name: AgentProvider): ChatProvider {
    return this.providers[name];
  }
}
