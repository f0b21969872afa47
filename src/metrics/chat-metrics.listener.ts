import { Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import type { Counter, Histogram } from 'prom-client';
import { DomainEvent, type MessageCreatedPayload, type MessageFinishedPayload } from '../common/events/domain-events.js';
import type { MessageDto } from '../messages/dto/message.dto.js';
import { AppMetrics } from './app-metrics.js';

/** Reply latencies, in seconds: an LLM answer takes from a fraction of a second to minutes. */
const REPLY_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120, 300];

type ReplyLabels = 'provider' | 'agent';

/**
 * The chat's business counters, from the domain events: messages stored, assistant replies'
 * processing time and time to first token, failures by code, tokens. Registered only while
 * CHAT_ENABLE_ANALYTICS is on (see MetricsModule). Labels are agent keys, providers and models,
 * never user or conversation ids.
 */
@Injectable()
export class ChatMetricsListener {
  private readonly messagesStored: Counter<'type'>;
  private readonly replyDuration: Histogram<ReplyLabels | 'outcome'>;
  private readonly timeToFirstToken: Histogram<ReplyLabels>;
  private readonly replyFailures: Counter<ReplyLabels | 'code'>;
  private readonly tokens: Counter<'agent' | 'model' | 'kind'>;

  constructor(metrics: AppMetrics) {
    this.messagesStored = metrics.counter('chat_messages_stored_total', 'Messages stored, by type (user, assistant, system)', ['type']);
    this.replyDuration = metrics.histogram(
      'chat_reply_duration_seconds',
      'Assistant replies from start to finish, by provider, agent and outcome (completed, failed)',
      ['provider', 'agent', 'outcome'],
      REPLY_BUCKETS,
    );
    this.timeToFirstToken = metrics.histogram(
      'chat_reply_time_to_first_token_seconds',
      'Assistant replies from start to their first streamed text, by provider and agent',
      ['provider', 'agent'],
      REPLY_BUCKETS,
    );
    this.replyFailures = metrics.counter('chat_reply_failures_total', 'Assistant replies that failed, by provider, agent and error code', [
      'provider',
      'agent',
      'code',
    ]);
    this.tokens = metrics.counter('chat_tokens_total', 'Tokens the provider reported, by agent, model and kind (prompt, completion)', [
      'agent',
      'model',
      'kind',
    ]);
  }

  @OnEvent(DomainEvent.MessageCreated)
  onCreated(event: MessageCreatedPayload): void {
    this.messagesStored.inc({ type: event.type });
  }

  @OnEvent(DomainEvent.MessageCompleted)
  onCompleted(event: MessageFinishedPayload): void {
    this.recordReply(event.message as MessageDto, 'completed');
  }

  @OnEvent(DomainEvent.MessageFailed)
  onFailed(event: MessageFinishedPayload): void {
    const message = event.message as MessageDto;
    this.recordReply(message, 'failed');
    this.replyFailures.inc({ ...replyLabels(message), code: message.error?.code ?? 'UNKNOWN' });
  }

  private recordReply(message: MessageDto, outcome: 'completed' | 'failed'): void {
    const labels = replyLabels(message);
    if (message.processingTime !== undefined) this.replyDuration.observe({ ...labels, outcome }, message.processingTime / 1000);
    const firstToken = message.generation?.timeToFirstToken;
    if (typeof firstToken === 'number') this.timeToFirstToken.observe(labels, firstToken / 1000);
    if (message.tokensUsed) {
      const model = message.generation?.model ?? 'unknown';
      this.tokens.inc({ agent: labels.agent, model, kind: 'prompt' }, message.tokensUsed.prompt);
      this.tokens.inc({ agent: labels.agent, model, kind: 'completion' }, message.tokensUsed.completion);
    }
  }
}

function replyLabels(message: MessageDto): Record<ReplyLabels, string> {
  return { provider: message.generation?.provider ?? 'unknown', agent: message.generation?.agentKey ?? 'unknown' };
}
