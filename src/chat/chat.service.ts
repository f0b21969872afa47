import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { AgentRuntime, AgentsService } from '../agents/agents.service.js';
import type { AppConfig } from '../common/config/app-config.js';
import { AppException } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { DomainEventBus } from '../common/events/domain-event-bus.js';
import { DomainEvent } from '../common/events/domain-events.js';
import { RateLimitedException, SharedRateLimiter } from '../common/rate-limit/rate-limiter.js';
import { ConversationsService, ConversationTurnContext } from '../conversations/conversations.service.js';
import { MessageDto } from '../messages/dto/message.dto.js';
import { MessagesService } from '../messages/messages.service.js';
import type { GenerationInfo } from '../messages/schemas/message.schema.js';
import { JobScheduler } from '../jobs/job-scheduler.service.js';
import { PreferencesService } from '../preferences/preferences.service.js';
import { ContextBuilder } from './context-builder.js';
import { countTokens } from '../common/text/tokenizer.js';
import { RegenerateDto, SendMessageDto, TurnDto } from './dto/chat.dto.js';
import { ProviderError, type PromptMessage } from './providers/chat-provider.js';
import { ProviderRegistry } from './providers/provider-registry.js';
import { TurnQueue } from './turn-queue.js';
import { HttpStatus } from '@nestjs/common';

/** What a follower of an in-flight reply is told. */
export type ReplyEvent =
  { type: 'delta'; index: number; text: string } | { type: 'completed'; message: MessageDto } | { type: 'failed'; message: MessageDto };

interface InFlightReply {
  text: string;
  nextIndex: number;
  followers: Set<(event: ReplyEvent) => void>;
  controller: AbortController;
}

const TITLE_MAX_LENGTH = 60;
const SUMMARY_TRANSCRIPT_LIMIT = 100;
export const STALE_REPLIES_JOB = 'stale-replies';
/** Every minute: a reply left pending by a stopped instance is failed within a minute of going stale. */
const STALE_REPLIES_CRON = '* * * * *';
/** How often a reply looks again whether an earlier one, written by another instance, has finished. */
const EARLIER_REPLY_POLL_MS = 100;

/**
 * The chat turn: stores the user's message and a pending reply first (so the question is never
 * lost), then asks the conversation's agent, streams the reply to followers and domain events, and
 * stores the outcome with its cost, timing and the agent version that produced it.
 */
@Injectable()
export class ChatService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ChatService.name);
  private readonly queue = new TurnQueue();
  private readonly inFlight = new Map<string, InFlightReply>();
  /** Replies this instance has queued or is writing (ids). */
  private readonly ownReplies = new Set<string>();
  private readonly settings: { rateLimitPerMinute: number; staleAfterMs: number; drainMs: number };
  private closing = false;

  constructor(
    private readonly conversations: ConversationsService,
    private readonly messages: MessagesService,
    private readonly agents: AgentsService,
    private readonly preferences: PreferencesService,
    private readonly context: ContextBuilder,
    private readonly providers: ProviderRegistry,
    private readonly events: DomainEventBus,
    private readonly rateLimiter: SharedRateLimiter,
    private readonly scheduler: JobScheduler,
    config: ConfigService<AppConfig, true>,
  ) {
    const llm = config.get('llm', { infer: true });
    this.settings = {
      rateLimitPerMinute: config.get('rateLimit', { infer: true }).messagesPerMinute,
      // A reply still in flight after every attempt could have timed out belongs to a dead process.
      staleAfterMs: llm.timeoutMs * (llm.maxRetries + 1) + 60_000,
      // Replies get half the shutdown deadline to finish; the rest is for stopping what remains.
      drainMs: config.get('shutdownTimeoutMs', { infer: true }) / 2,
    };
  }

  async send(ownerId: string, conversationId: string, dto: SendMessageDto, clientGone?: AbortSignal): Promise<TurnDto> {
    await this.takeRateToken(ownerId);
    if (dto.reply === false) {
      return { userMessage: await this.messages.appendUserMessage(ownerId, conversationId, dto), assistantMessage: null };
    }
    const conversation = await this.conversations.turnContext(ownerId, conversationId);
    const agent = await this.agentOf(conversation);
    const turn = await this.messages.appendTurn(ownerId, conversationId, dto, generationInfo(agent, 1));
    const reply = this.enqueue(conversationId, turn.assistantMessage.id, () =>
      this.generate(ownerId, conversationId, turn.assistantMessage, agent, dto.stream ? undefined : clientGone),
    );
    if (dto.stream) {
      void reply.catch(() => undefined);
      return turn;
    }
    return { userMessage: turn.userMessage, assistantMessage: await reply };
  }

  async regenerate(
    ownerId: string,
    conversationId: string,
    messageId: string,
    dto: RegenerateDto,
    clientGone?: AbortSignal,
  ): Promise<MessageDto> {
    await this.takeRateToken(ownerId);
    const message = await this.messages.getInConversation(ownerId, conversationId, messageId);
    if (message.type !== 'assistant') {
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.NOT_AN_ASSISTANT_MESSAGE, 'Only assistant replies can be regenerated');
    }
    const conversation = await this.conversations.turnContext(ownerId, conversationId);
    const agent = await this.agentOf(conversation);
    const pending = await this.messages.resetForRegeneration(
      ownerId,
      messageId,
      generationInfo(agent, (message.generation?.attempt ?? 0) + 1),
    );
    if (!pending) {
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.REPLY_IN_PROGRESS, 'This reply is still being written; wait for it to finish');
    }
    const reply = this.enqueue(conversationId, pending.id, () =>
      this.generate(ownerId, conversationId, pending, agent, dto.stream ? undefined : clientGone),
    );
    if (dto.stream) {
      void reply.catch(() => undefined);
      return pending;
    }
    return reply;
  }

  /**
   * Follows a reply: `onEvent` gets the text so far as one delta, then each new delta, then the
   * outcome. Returns a function that stops following. Replies produced by another instance are
   * followed by polling the database until they finish.
   */
  async follow(ownerId: string, conversationId: string, messageId: string, onEvent: (event: ReplyEvent) => void): Promise<() => void> {
    const message = await this.messages.getInConversation(ownerId, conversationId, messageId);
    if (message.type !== 'assistant') {
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.NOT_AN_ASSISTANT_MESSAGE, 'Only assistant replies can be streamed');
    }
    const local = this.inFlight.get(messageId);
    if (local) {
      if (local.text) onEvent({ type: 'delta', index: -1, text: local.text });
      local.followers.add(onEvent);
      return () => local.followers.delete(onEvent);
    }
    if (message.status === 'completed' || message.status === 'failed') {
      onEvent({ type: message.status, message });
      return () => {};
    }
    let stopped = false;
    const poll = async () => {
      while (!stopped) {
        await new Promise((wake) => setTimeout(wake, 500));
        const current = await this.messages.getInConversation(ownerId, conversationId, messageId).catch(() => null);
        if (!current || stopped) return;
        if (current.status === 'completed' || current.status === 'failed') {
          onEvent({ type: current.status, message: current });
          return;
        }
      }
    };
    void poll();
    return () => {
      stopped = true;
    };
  }

  /**
   * Replies left pending by an instance that stopped mid-reply are failed by a scheduled job: it
   * recovers other instances' abandoned work, so one instance does it per tick (the job's lease),
   * and its runs are recorded.
   */
  onModuleInit(): void {
    this.scheduler.register({ name: STALE_REPLIES_JOB, cron: STALE_REPLIES_CRON, runOnBoot: true, run: () => this.failStaleReplies() });
  }

  /**
   * On shutdown, replies being written get time to finish; those still running then are stopped
   * and stored as failed (clients see why and can regenerate), before the database closes.
   */
  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    const deadline = Date.now() + this.settings.drainMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) await new Promise((wake) => setTimeout(wake, 50));
    for (const reply of this.inFlight.values()) reply.controller.abort();
    const stopDeadline = Date.now() + 2000;
    while (this.inFlight.size > 0 && Date.now() < stopDeadline) await new Promise((wake) => setTimeout(wake, 20));
  }

  private async generate(
    ownerId: string,
    conversationId: string,
    pending: MessageDto,
    agent: AgentRuntime,
    clientGone?: AbortSignal,
  ): Promise<MessageDto> {
    const controller = new AbortController();
    const reply: InFlightReply = { text: '', nextIndex: 0, followers: new Set(), controller };
    this.inFlight.set(pending.id, reply);
    const abortOnClientGone = () => controller.abort();
    // The client may have left while this reply waited in the conversation's queue, or the
    // process may be shutting down.
    if (clientGone?.aborted || this.closing) controller.abort();
    clientGone?.addEventListener('abort', abortOnClientGone, { once: true });
    const started = Date.now();
    let firstTokenAt: number | null = null;
    try {
      await this.awaitEarlierReplies(conversationId, pending, controller.signal);
      const [conversation, preferences] = await Promise.all([
        this.conversations.turnContext(ownerId, conversationId),
        this.preferences.get(ownerId),
      ]);
      const built = await this.context.build(ownerId, conversationId, agent, pending.seq, preferences, conversation.summary);
      const provider = this.providers.for(agent.provider);
      let outcome: { usage: { prompt: number; completion: number; total: number }; finishReason: string; model: string | null } | null =
        null;
      for await (const event of provider.generate(
        { agent, messages: built.messages, question: built.question, responseStyle: preferences.responseStyle },
        controller.signal,
      )) {
        if (event.type === 'delta') {
          firstTokenAt ??= Date.now();
          reply.text += event.text;
          const index = reply.nextIndex++;
          this.notify(reply, { type: 'delta', index, text: event.text });
          this.events.publish(DomainEvent.MessageDelta, {
            userId: ownerId,
            conversationId,
            messageId: pending.id,
            index,
            text: event.text,
          });
        } else {
          outcome = event;
        }
      }
      if (!outcome) throw new ProviderError('PROVIDER_ERROR', 'The reply ended without a result');
      const completed = await this.messages.completeReply(ownerId, pending.id, {
        content: reply.text,
        tokens: countTokens(reply.text),
        tokensUsed: outcome.usage,
        processingTime: Date.now() - started,
        model: outcome.model,
        finishReason: outcome.finishReason,
        timeToFirstToken: firstTokenAt === null ? null : firstTokenAt - started,
      });
      const message = completed ?? (await this.messages.getInConversation(ownerId, conversationId, pending.id));
      this.notify(reply, { type: 'completed', message });
      this.events.publish(DomainEvent.MessageCompleted, { userId: ownerId, conversationId, messageId: pending.id, message });
      void this.afterReply(ownerId, conversationId, agent, conversation, built.summarizeThroughSeq, built.question).catch(
        (error: unknown) => this.logger.warn({ err: error, conversationId }, 'Title or summary update failed'),
      );
      return message;
    } catch (error) {
      const failure = toMessageError(error);
      if (failure.code === 'INTERNAL_ERROR') this.logger.error({ err: error, conversationId, messageId: pending.id }, 'Reply failed');
      const failed = await this.messages.failReply(ownerId, pending.id, failure, reply.text, Date.now() - started);
      const message = failed ?? (await this.messages.getInConversation(ownerId, conversationId, pending.id));
      this.notify(reply, { type: 'failed', message });
      this.events.publish(DomainEvent.MessageFailed, { userId: ownerId, conversationId, messageId: pending.id, message });
      return message;
    } finally {
      clientGone?.removeEventListener('abort', abortOnClientGone);
      this.inFlight.delete(pending.id);
    }
  }

  /** Titles an untitled conversation from its first exchange, and folds messages that left the context window into the summary. */
  private async afterReply(
    ownerId: string,
    conversationId: string,
    agent: AgentRuntime,
    conversation: ConversationTurnContext,
    summarizeThroughSeq: number | null,
    question: string,
  ): Promise<void> {
    if (conversation.title === null && question) {
      await this.conversations.setTitleIfUntitled(ownerId, conversationId, titleFrom(question));
    }
    if (summarizeThroughSeq !== null) {
      const afterSeq = conversation.summary?.throughSeq ?? 0;
      const transcript = (await this.messages.completedBetween(ownerId, conversationId, afterSeq, summarizeThroughSeq))
        .slice(-SUMMARY_TRANSCRIPT_LIMIT)
        .map((message): PromptMessage => ({ role: message.type === 'user' ? 'user' : 'assistant', content: message.content }));
      const text = await this.providers
        .for(agent.provider)
        .summarize(agent, conversation.summary?.text ?? null, transcript, AbortSignal.timeout(60_000));
      await this.conversations.saveSummary(ownerId, conversationId, { text, throughSeq: summarizeThroughSeq, updatedAt: new Date() });
    }
  }

  private async agentOf(conversation: ConversationTurnContext): Promise<AgentRuntime> {
    if (conversation.status !== 'active') {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.CONVERSATION_NOT_ACTIVE,
        `Conversation is ${conversation.status}; restore it to add messages`,
      );
    }
    if (conversation.agentKey === null) {
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.AGENT_UNAVAILABLE, 'This conversation has no agent; start a new conversation');
    }
    return this.agents.runtimeFor(conversation.agentKey);
  }

  /**
   * Waits while an earlier reply of the conversation is being written by another instance (one
   * that took the earlier message), so every reply sees the ones before it whichever instance
   * each message arrived on; the store says, so it holds on any deployment. This instance's own
   * replies are ordered by its queue already (and waiting for one queued behind this one, as a
   * regeneration of an older reply is, would never end). A reply left pending by a stopped
   * instance (older than the stale age) is not waited for. After a wait, the reply's age starts
   * again, so the stale-replies job does not take it for abandoned.
   */
  private async awaitEarlierReplies(conversationId: string, pending: MessageDto, signal: AbortSignal): Promise<void> {
    let waited = false;
    const deadline = Date.now() + this.settings.staleAfterMs;
    while (!signal.aborted && Date.now() < deadline) {
      const earlier = await this.messages.pendingRepliesBefore(
        conversationId,
        pending.seq,
        new Date(Date.now() - this.settings.staleAfterMs),
      );
      if (earlier.every((id) => this.ownReplies.has(id))) break;
      waited = true;
      await new Promise((wake) => setTimeout(wake, EARLIER_REPLY_POLL_MS));
    }
    if (waited) await this.messages.touchPendingReply(pending.id);
  }

  /** Queues a reply behind the conversation's earlier ones on this instance, known as this instance's until it is done. */
  private enqueue(conversationId: string, replyId: string, write: () => Promise<MessageDto>): Promise<MessageDto> {
    this.ownReplies.add(replyId);
    const reply = this.queue.run(conversationId, write);
    void reply.finally(() => this.ownReplies.delete(replyId)).catch(() => undefined);
    return reply;
  }

  /** CHAT_RATE_LIMIT_PER_MINUTE per user, across instances with Redis. */
  private async takeRateToken(ownerId: string): Promise<void> {
    const verdict = await this.rateLimiter.consume(`messages:${ownerId}`, this.settings.rateLimitPerMinute);
    if (!verdict.allowed) {
      throw new RateLimitedException(
        verdict.retryAfterSeconds,
        `Too many messages: at most ${this.settings.rateLimitPerMinute} a minute. Retry in ${verdict.retryAfterSeconds} s.`,
      );
    }
  }

  private notify(reply: InFlightReply, event: ReplyEvent): void {
    for (const follower of reply.followers) follower(event);
  }

  /** Fails replies still pending after every attempt could have timed out: their instance stopped while writing them. */
  private async failStaleReplies(): Promise<{ failed: number }> {
    const failed = await this.messages.failStaleReplies(new Date(Date.now() - this.settings.staleAfterMs), {
      code: 'INTERRUPTED',
      message: 'The reply was interrupted. Regenerate it to try again.',
    });
    if (failed > 0) this.logger.warn(`Marked ${failed} interrupted replies as failed`);
    return { failed };
  }
}

function generationInfo(agent: AgentRuntime, attempt: number): GenerationInfo {
  return {
    agentKey: agent.key,
    agentVersion: agent.version,
    provider: agent.provider,
    model: agent.model,
    finishReason: null,
    timeToFirstToken: null,
    attempt,
  };
}

function toMessageError(error: unknown): { code: string; message: string } {
  if (error instanceof ProviderError) return { code: error.code, message: error.message };
  if (error instanceof AppException) {
    const body = error.getResponse() as { code: string; message: string };
    return { code: body.code, message: body.message };
  }
  return { code: 'INTERNAL_ERROR', message: 'The reply could not be produced because of an internal error. Try again.' };
}

/** A short title from the first question: its first line, cut at a word boundary. */
export function titleFrom(question: string): string {
  const line = question
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[?.!:;,]+$/, '');
  if (line.length <= TITLE_MAX_LENGTH) return capitalize(line);
  const cut = line.slice(0, TITLE_MAX_LENGTH);
  return `${capitalize(cut.slice(0, cut.lastIndexOf(' ') > 20 ? cut.lastIndexOf(' ') : TITLE_MAX_LENGTH))}…`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
