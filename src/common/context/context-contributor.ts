/** What a context contributor is asked for one chat turn. */
export interface ContextRequest {
  ownerId: string;
  conversationId: string;
  /** The reply being written; contributions are about what came before it. */
  beforeSeq: number;
  /** Tokens the contributor may use, all its sections together. */
  maxTokens: number;
}

/**
 * Extra context for a chat turn from another feature (the text of attached files, for one).
 * Each contributor returns system-prompt sections; the chat module collects every contributor
 * registered under CONTEXT_CONTRIBUTORS.
 */
export interface ContextContributor {
  contribute(request: ContextRequest): Promise<string[]>;
}

export const CONTEXT_CONTRIBUTORS = Symbol('CONTEXT_CONTRIBUTORS');
