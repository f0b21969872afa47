import type { AgentRuntime } from '../../agents/agents.service.js';
import type { ResponseStyle } from '../../preferences/schemas/user-preferences.schema.js';

export interface PromptMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface GenerationRequest {
  agent: AgentRuntime;
  /** The whole prompt: system messages first, then the conversation, the question last. */
  messages: PromptMessage[];
  /** The user's question this reply answers. */
  question: string;
  responseStyle: ResponseStyle | null;
}

export interface TokenUsageCount {
  prompt: number;
  completion: number;
  total: number;
}

export type GenerationEvent =
  { type: 'delta'; text: string } | { type: 'done'; usage: TokenUsageCount; finishReason: string; model: string | null };

export type ProviderErrorCode = 'PROVIDER_TIMEOUT' | 'PROVIDER_ERROR' | 'PROVIDER_UNAVAILABLE' | 'CANCELLED';

/** A failure the user can be told about; `message` is safe to show. */
export class ProviderError extends Error {
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** A reply engine. Implementations stream text deltas and end with one `done` event. */
export interface ChatProvider {
  readonly name: string;
  generate(request: GenerationRequest, signal: AbortSignal): AsyncIterable<GenerationEvent>;
  /** Folds older messages into the running summary of a conversation. */
  summarize(agent: AgentRuntime, previousSummary: string | null, transcript: PromptMessage[], signal: AbortSignal): Promise<string>;
}
