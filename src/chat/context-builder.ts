import { Inject, Injectable, Optional } from '@nestjs/common';
import type { AgentRuntime } from '../agents/agents.service.js';
import type { ConversationSummary } from '../conversations/schemas/conversation.schema.js';
import { MessagesService } from '../messages/messages.service.js';
import type { PreferencesDto } from '../preferences/dto/preferences.dto.js';
import type { PromptMessage } from './providers/chat-provider.js';
import { countMessageTokens } from '../common/text/tokenizer.js';

import { CONTEXT_CONTRIBUTORS, type ContextContributor } from '../common/context/context-contributor.js';

/** Share of the prompt budget (context minus reply) that contributors, together, may fill. */
const CONTRIBUTIONS_SHARE = 0.25;

/** How many recent messages are considered before the token budget trims them. */
const HISTORY_FETCH_LIMIT = 200;

export interface BuiltContext {
  messages: PromptMessage[];
  question: string;
  /** Set when messages before the window are not yet in the summary: summarise through this seq. */
  summarizeThroughSeq: number | null;
}

/**
 * Assembles a prompt within the agent's token budget: system prompt, the user's preferences and
 * kept facts, the rolling summary, contributions from other features, then as many of the most
 * recent messages as fit, ending with the question.
 */
@Injectable()
export class ContextBuilder {
  constructor(
    private readonly messages: MessagesService,
    @Optional() @Inject(CONTEXT_CONTRIBUTORS) private readonly contributors: ContextContributor[] = [],
  ) {}

  async build(
    ownerId: string,
    conversationId: string,
    agent: AgentRuntime,
    replySeq: number,
    preferences: PreferencesDto,
    summary: ConversationSummary | null,
  ): Promise<BuiltContext> {
    const contributionTokens = Math.floor(
      ((agent.contextTokens - agent.maxTokens) * CONTRIBUTIONS_SHARE) / Math.max(1, this.contributors.length),
    );
    const contributions = (
      await Promise.all(
        this.contributors.map((contributor) =>
          contributor.contribute({ ownerId, conversationId, beforeSeq: replySeq, maxTokens: contributionTokens }),
        ),
      )
    ).flat();
    const system = [agent.systemPrompt, ...preferenceSections(preferences), ...contributions];
    if (summary) system.push(`Summary of the earlier part of this conversation:\n${summary.text}`);
    const systemMessage: PromptMessage = { role: 'system', content: system.join('\n\n') };

    const history = await this.messages.contextBefore(ownerId, conversationId, replySeq, HISTORY_FETCH_LIMIT);
    const questionIndex = history.findLastIndex((message) => message.type === 'user');
    const question = questionIndex >= 0 ? history[questionIndex]!.content : '';
    const candidates = history.slice(0, questionIndex + 1).filter((message) => message.type !== 'system');

    let budget = agent.contextTokens - agent.maxTokens - countMessageTokens([systemMessage]);
    const included: typeof candidates = [];
    for (let i = candidates.length - 1; i >= 0; i -= 1) {
      const message = candidates[i]!;
      const cost = message.tokens + 4;
      // The question itself always goes in, even when it alone exceeds the budget.
      if (cost > budget && included.length > 0) break;
      budget -= cost;
      included.unshift(message);
    }

    const firstIncludedSeq = included[0]?.seq ?? replySeq;
    const coveredThrough = summary?.throughSeq ?? 0;
    return {
      messages: [
        systemMessage,
        ...included.map((message): PromptMessage => ({ role: message.type === 'user' ? 'user' : 'assistant', content: message.content })),
      ],
      question,
      summarizeThroughSeq: firstIncludedSeq - 1 > coveredThrough ? firstIncludedSeq - 1 : null,
    };
  }
}

function preferenceSections(preferences: PreferencesDto): string[] {
  const sections: string[] = [];
  if (preferences.language) sections.push(`Answer in the language with the BCP 47 tag "${preferences.language}".`);
  if (preferences.responseStyle === 'concise') sections.push('Keep answers short: the key steps only.');
  if (preferences.responseStyle === 'detailed') sections.push('Give detailed answers with the reasons behind each step.');
  if (preferences.facts.length > 0) {
    sections.push(`What the user asked you to remember about them:\n${preferences.facts.map((fact) => `- ${fact.text}`).join('\n')}`);
  }
  return sections;
}
