import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Types } from 'mongoose';
import type { AuthenticatedUser } from '../../auth/authenticated-user.js';
import type { AppConfig } from '../../common/config/app-config.js';
import { UserDataRegistry } from '../../common/user-data/user-data.registry.js';
import { DataCounts, addCounts } from '../../common/user-data/user-data.js';
import { ConversationsService, RetentionCandidate } from '../../conversations/conversations.service.js';
import { CONVERSATIONS_COLLECTION } from '../../conversations/schemas/conversation.schema.js';
import type { JobContext, JobCounts, JobRunResult } from '../../jobs/job.js';
import { JobScheduler } from '../../jobs/job-scheduler.service.js';
import { AuditLog, type AuditActor } from '../audit/audit-log.service.js';
import { PSEUDONYM_PATTERN, createPseudonym, pseudonymisationAs } from '../erasure/pseudonymiser.js';
import { LegalHoldsService } from '../holds/legal-holds.service.js';
import type { RetentionPassDto, RetentionPreviewDto } from './dto/retention.dto.js';
import { RetentionPass, planRetention } from './retention-plan.js';
import { RetentionPoliciesService } from './retention-policies.service.js';

export const RETENTION_JOB = 'retention';
/** Conversations handled per round: each round is one query, one hold check and one call per store. */
const BATCH = 100;
const SYSTEM_ACTOR: AuditActor = { system: RETENTION_JOB };

/** What one pass found and did (or, in the preview, would do). */
interface PassOutcome {
  pass: RetentionPass;
  conversations: number;
  skippedByHold: number;
  counts: DataCounts;
}

/** One round of a pass: the conversations due now, and how many more were due but held. */
interface DueBatch {
  due: RetentionCandidate[];
  held: number;
}

/**
 * The retention job (`retention`, on CHAT_RETENTION_CRON) and its dry run.
 *
 * A run applies the passes of planRetention in order. Each pass pages through the conversations
 * its policy finds due, by _id, 100 at a time; those a legal hold covers (the conversation or its
 * owner, checked per batch, so a hold placed during a run protects from the next batch on) are
 * skipped and counted. For the rest, every ConversationDataProvider purges what hangs under them
 * (messages, attachments and files, feedback, search terms) and then the conversations module
 * removes the conversations themselves, last: a run interrupted anywhere leaves the conversations
 * in place, so the next run finds them again and finishes the job. Under an `anonymise` policy
 * the same stores give the conversations to a pseudonym of their owner instead (see anonymise);
 * an interrupted pass finds the rest again, since their owner is not a pseudonym yet.
 *
 * With ENABLE_DATA_RETENTION=false a run does nothing and says so. Each run leaves its receipt
 * (per policy and per store, what it removed and what holds kept) in the audit log as
 * `retention.run`.
 */
@Injectable()
export class RetentionJob implements OnModuleInit {
  private readonly logger = new Logger('Retention');
  private readonly settings: AppConfig['compliance'];
  /** The admin whose request the next manual run answers (see runNow). */
  private pendingTrigger: AuthenticatedUser | null = null;
  /** Admin triggers, one after the other, so each run is credited to the admin who asked for it. */
  private triggers: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly scheduler: JobScheduler,
    private readonly conversations: ConversationsService,
    private readonly holds: LegalHoldsService,
    private readonly policies: RetentionPoliciesService,
    private readonly registry: UserDataRegistry,
    private readonly audit: AuditLog,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('compliance', { infer: true });
  }

  onModuleInit(): void {
    // Registered even when retention is off: a run then records that it is disabled.
    this.scheduler.register({ name: RETENTION_JOB, cron: this.settings.retentionCron, run: (context) => this.run(context) });
  }

  /** Runs now for an admin and answers the run record (skipped when another instance holds the lease). */
  runNow(admin: AuthenticatedUser): Promise<JobRunResult> {
    const run = this.triggers.then(async () => {
      this.pendingTrigger = admin;
      try {
        return await this.scheduler.runNow(RETENTION_JOB);
      } finally {
        this.pendingTrigger = null;
      }
    });
    this.triggers = run.catch(() => undefined);
    return run;
  }

  async run(context: JobContext): Promise<JobCounts> {
    const actor = await this.actorOf(context);
    if (!this.settings.enableDataRetention) {
      this.logger.log('retention is disabled (ENABLE_DATA_RETENTION=false): nothing purged');
      await this.audit.record({
        action: 'retention.run',
        actor,
        target: { type: 'job-run', id: context.runId },
        details: { disabled: true },
      });
      return { disabled: 1 };
    }
    const passes = await this.plan(new Date());
    const outcomes: PassOutcome[] = [];
    const pseudonyms = new Map<string, string>();
    let failure: Error | null = null;
    try {
      for (const pass of passes) {
        const outcome: PassOutcome = { pass, conversations: 0, skippedByHold: 0, counts: {} };
        outcomes.push(outcome);
        if (pass.suspended) {
          this.logger.warn(`${passLabel(pass)}: ${pass.suspended}`);
          continue;
        }
        for await (const { due, held } of this.dueBatches(pass, context.signal)) {
          outcome.skippedByHold += held;
          if (due.length > 0) {
            addCounts(outcome.counts, pass.action === 'delete' ? await this.purge(due) : await this.anonymise(due, pseudonyms));
            outcome.conversations += due.length;
          }
          await context.progress(
            `${passLabel(pass)}: ${outcome.conversations} conversations ${pass.action === 'delete' ? 'purged' : 'anonymised'}, ` +
              `${outcome.skippedByHold} held`,
            jobCounts(outcomes),
          );
        }
      }
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    }
    await this.recordReceipt(context.runId, actor, outcomes, failure);
    if (failure) throw failure;
    return jobCounts(outcomes);
  }

  /** What a run now would purge (or anonymise), per policy and per store; changes nothing. */
  async preview(sampleLimit: number): Promise<RetentionPreviewDto> {
    const at = new Date();
    const providers = this.registry.conversationDataProviders();
    const policies: RetentionPreviewDto['policies'] = [];
    const totals = { conversations: 0, skippedByHold: 0, counts: {} as DataCounts };
    for (const pass of await this.plan(at)) {
      const outcome: PassOutcome = { pass, conversations: 0, skippedByHold: 0, counts: {} };
      const sample: string[] = [];
      if (!pass.suspended) {
        for await (const { due, held } of this.dueBatches(pass)) {
          outcome.skippedByHold += held;
          if (due.length === 0) continue;
          const ids = due.map((conversation) => conversation.id);
          for (const provider of providers) addCounts(outcome.counts, await provider.countForConversations(ids));
          addCounts(outcome.counts, { [CONVERSATIONS_COLLECTION]: ids.length });
          outcome.conversations += ids.length;
          sample.push(...ids.slice(0, Math.max(0, sampleLimit - sample.length)).map((id) => id.toHexString()));
        }
      }
      policies.push({ ...toPassDto(outcome), sampleConversationIds: sample });
      totals.conversations += outcome.conversations;
      totals.skippedByHold += outcome.skippedByHold;
      addCounts(totals.counts, outcome.counts);
    }
    return { at: at.toISOString(), enabled: this.settings.enableDataRetention, policies, totals };
  }

  private async plan(now: Date): Promise<RetentionPass[]> {
    return planRetention(await this.policies.current(), {
      now,
      graceMinutes: this.settings.permanentDeleteGraceMinutes,
      anonymizationEnabled: this.settings.anonymizationEnabled,
    });
  }

  /** The pass's conversations in batches by _id (see isDue); those a hold covers are taken out and counted. */
  private async *dueBatches(pass: RetentionPass, signal?: AbortSignal): AsyncGenerator<DueBatch> {
    let afterId: Types.ObjectId | undefined;
    for (;;) {
      signal?.throwIfAborted();
      const batch = await this.conversations.findForRetention({ ...pass.query, ...(afterId ? { afterId } : {}), limit: BATCH });
      if (batch.length === 0) return;
      afterId = batch[batch.length - 1]!.id;
      const eligible = batch.filter((conversation) => isDue(pass, conversation));
      const due = await this.withoutHeld(eligible);
      yield { due, held: eligible.length - due.length };
      if (batch.length < BATCH) return;
    }
  }

  private async withoutHeld(candidates: RetentionCandidate[]): Promise<RetentionCandidate[]> {
    if (candidates.length === 0) return candidates;
    const [heldUsers, heldConversations] = await Promise.all([
      this.holds.heldUserIds(candidates.map((conversation) => conversation.userId)),
      this.holds.heldConversationIds(candidates.map((conversation) => conversation.id)),
    ]);
    return candidates.filter(
      (conversation) => !heldUsers.has(conversation.userId) && !heldConversations.has(conversation.id.toHexString()),
    );
  }

  /** Everything under the conversations first, the conversations last (so an interrupted purge is found again). */
  private async purge(due: RetentionCandidate[]): Promise<DataCounts> {
    const ids = due.map((conversation) => conversation.id);
    const counts: DataCounts = {};
    for (const provider of this.registry.conversationDataProviders()) addCounts(counts, await provider.purgeConversations(ids));
    return addCounts(counts, await this.conversations.purgeConversations(ids));
  }

  /**
   * Gives each owner's conversations to a pseudonym, store by store, then the conversations
   * themselves. One pseudonym per owner per run (`pseudonyms`), so one person's conversations
   * that expire together stay one anonymous person; the service does not store people's names,
   * so the masking covers e-mail addresses, phone, card and IBAN numbers, not names.
   */
  private async anonymise(due: RetentionCandidate[], pseudonyms: Map<string, string>): Promise<DataCounts> {
    const byOwner = new Map<string, Types.ObjectId[]>();
    for (const conversation of due) {
      const ids = byOwner.get(conversation.userId) ?? [];
      ids.push(conversation.id);
      byOwner.set(conversation.userId, ids);
    }
    const counts: DataCounts = {};
    for (const [userId, ids] of byOwner) {
      if (!pseudonyms.has(userId)) pseudonyms.set(userId, createPseudonym(userId));
      const request = pseudonymisationAs(userId, pseudonyms.get(userId)!, []);
      for (const provider of this.registry.conversationDataProviders())
        addCounts(counts, await provider.pseudonymiseConversations(ids, request));
      addCounts(counts, await this.conversations.pseudonymiseConversations(ids, request));
    }
    return counts;
  }

  /** The admin who asked for this run, when it is the manual run they triggered; else the job itself. */
  private async actorOf(context: JobContext): Promise<AuditActor> {
    const admin = this.pendingTrigger;
    if (!admin) return SYSTEM_ACTOR;
    const runs = await this.scheduler.recentRuns(RETENTION_JOB, 5);
    if (runs.find((run) => run.id === context.runId)?.trigger !== 'manual') return SYSTEM_ACTOR;
    this.pendingTrigger = null;
    return { userId: admin.id, roles: [...admin.roles] };
  }

  private async recordReceipt(runId: string, actor: AuditActor, outcomes: PassOutcome[], failure: Error | null): Promise<void> {
    const totals = { conversations: 0, skippedByHold: 0, purged: {} as DataCounts, anonymised: {} as DataCounts };
    for (const outcome of outcomes) {
      totals.conversations += outcome.conversations;
      totals.skippedByHold += outcome.skippedByHold;
      addCounts(outcome.pass.action === 'delete' ? totals.purged : totals.anonymised, outcome.counts);
    }
    try {
      await this.audit.record({
        action: 'retention.run',
        actor,
        target: { type: 'job-run', id: runId },
        details: {
          disabled: false,
          outcome: failure ? 'failed' : 'succeeded',
          ...(failure ? { error: failure.message } : {}),
          policies: outcomes.map(toPassDto),
          totals,
        },
      });
    } catch (error) {
      // The run's own failure is what the run record reports; the missing receipt is logged.
      if (!failure) throw error;
      this.logger.error({ err: error, runId }, 'retention: the receipt of a failed run could not be written to the audit log');
    }
  }
}

/**
 * Whether a conversation the pass's query found is the pass's to act on. Policy passes leave
 * conversations deleted for good to the `permanently-deleted` pass; `anonymise` passes leave
 * conversations already given to a pseudonym (a pseudonym is never anonymised again).
 */
function isDue(pass: RetentionPass, conversation: RetentionCandidate): boolean {
  if (pass.leavesDeleted && conversation.status === 'deleted') return false;
  return !(pass.action === 'anonymise' && PSEUDONYM_PATTERN.test(conversation.userId));
}

function passLabel(pass: RetentionPass): string {
  return pass.key === null ? pass.policy : `${pass.policy} ${pass.key}`;
}

function toPassDto(outcome: PassOutcome): RetentionPassDto {
  const { pass } = outcome;
  return {
    policy: pass.policy,
    key: pass.key,
    days: pass.days,
    graceMinutes: pass.graceMinutes,
    action: pass.action,
    cutoff: pass.cutoff.toISOString(),
    conversations: outcome.conversations,
    skippedByHold: outcome.skippedByHold,
    counts: outcome.counts,
    suspended: pass.suspended,
  };
}

/** The run record's counts: conversations, holds, and per store what was purged and what anonymised. */
function jobCounts(outcomes: PassOutcome[]): JobCounts {
  let conversations = 0;
  let skippedByHold = 0;
  const perStore: JobCounts = {};
  for (const outcome of outcomes) {
    conversations += outcome.conversations;
    skippedByHold += outcome.skippedByHold;
    const verb = outcome.pass.action === 'delete' ? 'purged' : 'anonymised';
    for (const [store, count] of Object.entries(outcome.counts)) perStore[`${verb}:${store}`] = (perStore[`${verb}:${store}`] ?? 0) + count;
  }
  return { disabled: 0, conversations, skippedByHold, ...perStore };
}
