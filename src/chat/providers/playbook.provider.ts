import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import MiniSearch, { type SearchResult } from 'minisearch';
import { stemmer } from 'stemmer';
import { STOP_WORDS } from '../../common/text/search-terms.js';
import type { AgentRuntime } from '../../agents/agents.service.js';
import type { AppConfig } from '../../common/config/app-config.js';
import type { KnowledgeEntry } from '../../agents/schemas/agent.schema.js';
import { countMessageTokens, countTokens } from '../../common/text/tokenizer.js';
import { ChatProvider, GenerationEvent, GenerationRequest, PromptMessage, ProviderError } from './chat-provider.js';

/** The finish reason of a reply that says the playbook has no answer. */
export const NO_MATCH = 'no_match';
const MAX_CITED = 3;
/** Entries scoring below this share of the best match are not cited. */
const RELATIVE_SCORE_FLOOR = 0.35;
const SUMMARY_MAX_CHARS = 2000;
const WORDS_PER_CHUNK = 4;

/**
 * The embedded reply engine: answers from the agent's playbook with full-text retrieval
 * (MiniSearch: BM25 ranking, prefix and fuzzy matching), cites the entries it used, and says
 * plainly when the playbook has no answer. Deterministic for a given playbook and question.
 */
@Injectable()
export class PlaybookProvider implements ChatProvider {
  readonly name = 'playbook';
  private readonly indexes = new Map<string, MiniSearch<KnowledgeEntry>>();
  private readonly chunkDelayMs: number;

  constructor(config: ConfigService<AppConfig, true>) {
    this.chunkDelayMs = config.get('llm', { infer: true }).playbookChunkDelayMs;
  }

  async *generate(request: GenerationRequest, signal: AbortSignal): AsyncIterable<GenerationEvent> {
    const { reply, answered } = this.compose(request);
    const words = reply.split(/(?<=\s)/);
    for (let i = 0; i < words.length; i += WORDS_PER_CHUNK) {
      if (signal.aborted) throw new ProviderError('CANCELLED', 'The reply was cancelled');
      if (this.chunkDelayMs > 0 && i > 0) await sleep(this.chunkDelayMs, signal);
      yield { type: 'delta', text: words.slice(i, i + WORDS_PER_CHUNK).join('') };
    }
    const prompt = countMessageTokens(request.messages);
    const completion = countTokens(reply);
    yield {
      type: 'done',
      usage: { prompt, completion, total: prompt + completion },
      // `no_match` tells analytics the playbook had no answer (the unanswered-questions insight).
      finishReason: answered ? 'stop' : NO_MATCH,
      model: `playbook:${request.agent.key}@${request.agent.version}`,
    };
  }

  /** Extractive: keeps the first sentence of each message, newest last, within a size cap. */
  summarize(_agent: AgentRuntime, previousSummary: string | null, transcript: PromptMessage[]): Promise<string> {
    const lines = transcript.map((message) => `- ${message.role === 'user' ? 'User' : 'Assistant'}: ${firstSentence(message.content)}`);
    let summary = [previousSummary, ...lines].filter(Boolean).join('\n');
    while (summary.length > SUMMARY_MAX_CHARS && summary.includes('\n')) {
      summary = summary.slice(summary.indexOf('\n') + 1);
    }
    return Promise.resolve(summary.slice(-SUMMARY_MAX_CHARS));
  }

  /** The matching entries for a question, best first. */
  search(agent: AgentRuntime, question: string): KnowledgeEntry[] {
    const index = this.indexFor(agent);
    const results: SearchResult[] = index.search(question);
    const best = results[0]?.score ?? 0;
    const byId = new Map(agent.knowledgeBase.map((entry) => [entry.id, entry]));
    return results
      .filter((result) => result.score >= best * RELATIVE_SCORE_FLOOR)
      .slice(0, MAX_CITED)
      .map((result) => byId.get(String(result.id)))
      .filter((entry): entry is KnowledgeEntry => entry !== undefined);
  }

  private compose(request: GenerationRequest): { reply: string; answered: boolean } {
    const entries = this.search(request.agent, request.question);
    if (entries.length === 0) {
      const reply =
        `I could not find anything about that in the ${request.agent.name} playbook, so I would rather not guess. ` +
        'Try asking with the process, location or item involved (for example "short pick" or "damaged pallet"), or check with your shift supervisor.';
      return { reply, answered: false };
    }
    const cited = request.responseStyle === 'concise' ? entries.slice(0, 1) : entries;
    const body = cited.map((entry, index) => `**${entry.title}** [${index + 1}]\n${entry.content}`).join('\n\n');
    const sources = cited.map((entry, index) => `[${index + 1}] ${entry.id}: ${entry.title}`).join('\n');
    return { reply: `Here is what the playbook says:\n\n${body}\n\nSources:\n${sources}`, answered: true };
  }

  private indexFor(agent: AgentRuntime): MiniSearch<KnowledgeEntry> {
    const cacheKey = `${agent.key}@${agent.version}`;
    let index = this.indexes.get(cacheKey);
    if (!index) {
      index = new MiniSearch<KnowledgeEntry>({
        fields: ['title', 'content', 'tags'],
        extractField: (document, field) => {
          const value = document[field as keyof KnowledgeEntry];
          return Array.isArray(value) ? value.join(' ') : String(value);
        },
        // Porter stems on both sides: "replenishing" finds "replenishment", "picked" finds "picking".
        processTerm: (term) => {
          const lower = term.toLowerCase();
          return STOP_WORDS.has(lower) ? null : stemmer(lower);
        },
        searchOptions: {
          boost: { title: 2, tags: 1.5 },
          // Short terms match too much when expanded: "1" would find "120" and "15".
          prefix: (term) => term.length >= 4,
          fuzzy: (term) => (term.length >= 5 ? 0.2 : false),
          combineWith: 'OR',
        },
      });
      index.addAll(agent.knowledgeBase);
      this.indexes.set(cacheKey, index);
    }
    return index;
  }
}

function firstSentence(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const match = /^(.{1,200}?[.!?])(\s|$)/.exec(flat);
  return match?.[1] ?? (flat.length > 200 ? `${flat.slice(0, 197)}...` : flat);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new ProviderError('CANCELLED', 'The reply was cancelled'));
      },
      { once: true },
    );
  });
}
