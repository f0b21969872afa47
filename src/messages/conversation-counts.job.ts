import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Types } from 'mongoose';
import { AppConfig } from '../common/config/app-config.js';
import { ConversationCountsSnapshot, ConversationsService } from '../conversations/conversations.service.js';
import type { JobContext } from '../jobs/job.js';
import { JobScheduler } from '../jobs/job-scheduler.service.js';
import { MessagesRepository } from './messages.repository.js';

export const CONVERSATION_COUNTS_JOB = 'conversation-counts';
const BATCH = 200;
/**
 * How far before the previous run's window end a run starts again: covers writes stamped by an
 * instance whose clock is a little behind, or that became visible after that run read.
 */
const OVERLAP_MS = 5 * 60_000;

export interface ConversationCountsResult extends Record<string, number> {
  /** Conversations whose counters were compared with their stored messages. */
  checked: number;
  /** Conversations whose counters were set to what is stored. */
  repaired: number;
  /** Wrong counters left for the next run because the conversation changed while this run looked at it. */
  deferred: number;
}

/**
 * Repairs `messageCount` and `lastSeq` that disagree with the stored messages. A message takes
 * its slot on the conversation first and is inserted second, so a crash in between leaves the
 * count one or more too high (and an insert reported failed that did land, one too low). Each
 * run covers conversations whose `updatedAt` lies in [previous window end − overlap, now − grace]
 * (the first run ever: everything, in batches); the grace keeps it away from slots whose message
 * may still be in flight on some instance. A wrong counter is fixed with an update conditional on
 * what was read, so a send or delete meanwhile makes it miss rather than write a stale count.
 */
@Injectable()
export class ConversationCountsJob implements OnModuleInit {
  private readonly logger = new Logger('ConversationCounts');
  private readonly cron: string;
  private readonly graceMs: number;

  constructor(
    private readonly scheduler: JobScheduler,
    private readonly conversations: ConversationsService,
    private readonly messages: MessagesRepository,
    config: ConfigService<AppConfig, true>,
  ) {
    const settings = config.get('jobs', { infer: true }).countRepair;
    this.cron = settings.cron;
    this.graceMs = settings.graceSeconds * 1000;
  }

  onModuleInit(): void {
    this.scheduler.register({ name: CONVERSATION_COUNTS_JOB, cron: this.cron, runOnBoot: true, run: (context) => this.run(context) });
  }

  async run(context: JobContext): Promise<ConversationCountsResult> {
    const to = new Date(Date.now() - this.graceMs);
    const checkpoint = context.previous?.checkpoint ?? null;
    const from = checkpoint ? new Date(checkpoint.getTime() - OVERLAP_MS) : null;
    const counts: ConversationCountsResult = { checked: 0, repaired: 0, deferred: 0 };
    let after: { updatedAt: Date; id: string } | null = null;
    for (;;) {
      context.signal.throwIfAborted();
      const batch = await this.conversations.countsChangedBetween({ from, to }, after, BATCH);
      for (const conversation of batch) {
        counts.checked += 1;
        const outcome = await this.check(conversation);
        if (outcome !== 'ok') counts[outcome] += 1;
      }
      if (batch.length < BATCH) break;
      const last = batch[batch.length - 1]!;
      after = { updatedAt: last.updatedAt, id: last.id };
      await context.progress(`${counts.checked} conversations checked, ${counts.repaired} repaired`, counts);
    }
    context.setCheckpoint(to);
    return counts;
  }

  private async check(conversation: ConversationCountsSnapshot): Promise<'ok' | 'repaired' | 'deferred'> {
    const id = new Types.ObjectId(conversation.id);
    const stored = await this.messages.conversationCounts(id);
    if (stored.count === conversation.messageCount && conversation.lastSeq >= stored.maxSeq) return 'ok';
    const lastMessageAt = await this.messages.conversationLatestTimestamp(id);
    const repaired = await this.conversations.repairCounts(conversation, {
      messageCount: stored.count,
      lastSeq: stored.maxSeq,
      lastMessageAt,
    });
    const change = `messageCount ${conversation.messageCount} → ${stored.count}, lastSeq ${conversation.lastSeq} → ${Math.max(conversation.lastSeq, stored.maxSeq)}`;
    if (repaired) {
      this.logger.warn({ conversationId: conversation.id }, `conversation ${conversation.id}: repaired ${change}`);
      return 'repaired';
    }
    this.logger.log(
      { conversationId: conversation.id },
      `conversation ${conversation.id}: changed while being checked (${change} not applied); checked again next run`,
    );
    return 'deferred';
  }
}
