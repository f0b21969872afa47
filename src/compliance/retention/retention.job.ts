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
import { createPseudonym, pseudonymisationAs } from '../erasure/pseudonymiser.js';
import { LegalHoldsService } from '../holds/legal-holds.service.js';
import { LEGAL_HOLDS_COLLECTION } from '../holds/schemas/legal-hold.schema.js';
import { MAX_PREVIEW_CONVERSATIONS, type RetentionPassDto, type RetentionPreviewDto } from './dto/retention.dto.js';
import { RetentionPass, planRetention } from './retention-plan.js';
import { RetentionPoliciesService } from './retention-policies.service.js';

export const RETENTION_JOB = 'retention';
/** Conversations handled per round: each round is one query, one hold check and one call per store. */
const BATCH = 100;
const SYSTEM_ACTOR: AuditActor = { system: RETENTION_JOB };
/** The receipt's text for a failed run; the error's own message goes to the run record only (see failureOf). */
const RUN_FAILED_TEXT = 'The run stopped on an error; its message is in the job run record (chat_job_runs).';

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

/** What one round did: the conversations purged (or anonymised), and per store the records. */
interface BatchOutcome {
  conversations: number;
  counts: DataCounts;
}

/** How many more conversations a scan may examine, and whether it had to stop before the end. */
interface ScanBudget {
  remaining: number;
  truncated: boolean;
}

/**
 * The retention job (`retention`, on CHAT_RETENTION_CRON) and its dry run.
 *
 * A run applies the passes of planRetention in order. Each pass pages through the conversations
 * its policy finds due, by _id, 100 at a time; those a legal hold covers (the conversation or its
 * owner, checked per batch, so a hold placed during a run protects from the next batch on) are
 * skipped and counted. The rest are first marked for purge, which re-checks that they are still
 * due and makes them refuse new messages (see ConversationsService.markForPurge): one that took
 * a message since it was selected is left alone, and nothing written during the purge is lost or
 * left behind. Then every ConversationDataProvider purges what hangs under the marked ones
 * (messages, attachments and files, feedback, search terms) and the conversations module removes
 * the conversations themselves, last: a run interrupted before that leaves them in place, and a
 * later run finishes the job. Under an `anonymise` policy the same stores give the conversations
 * to a pseudonym of their owner instead (see anonymise); an interrupted pass finds the rest
 * again, since their owner is not a pseudonym yet.
 *
 * ENABLE_DATA_RETENTION=false switches off the period policies only: conversations their owners
 * deleted for good are still purged after the grace (that purge is the owner's request, not a
 * policy). Each run leaves its receipt (per policy and per store, what it removed and what holds
 * kept) in the audit log as `retention.run`.
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
    // Registered even when retention is off: a run then purges only what was deleted for good.
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
    const enabled = this.settings.enableDataRetention;
    if (!enabled) this.logger.log('retention is disabled (ENABLE_DATA_RETENTION=false): only conversations deleted for good are purged');
    const passes = (await this.plan(new Date())).filter((pass) => enabled || pass.policy === 'permanently-deleted');
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
        for await (const { due, held } of this.dueBatches(pass, { signal: context.signal })) {
          outcome.skippedByHold += held;
          if (due.length > 0) {
            const done = pass.action === 'delete' ? await this.purge(pass, due) : await this.anonymise(due, pseudonyms);
            addCounts(outcome.counts, done.counts);
            outcome.conversations += done.conversations;
          }
          await context.progress(
            `${passLabel(pass)}: ${outcome.conversations} conversations ${pass.action === 'delete' ? 'purged' : 'anonymised'}, ` +
              `${outcome.skippedByHold} held`,
            jobCounts(enabled, outcomes),
          );
        }
      }
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    }
    await this.recordReceipt(context.runId, actor, enabled, outcomes, failure);
    if (failure) throw failure;
    return jobCounts(enabled, outcomes);
  }

  /**
   * What a run now would purge (or anonymise), per policy and per store; changes nothing. It
   * examines at most `maxConversations` conversations across its passes; past that it answers
   * what it found so far with `truncated` set (on the answer and on each pass it could not finish).
   */
  async preview(sampleLimit: number, maxConversations = MAX_PREVIEW_CONVERSATIONS): Promise<RetentionPreviewDto> {
    const at = new Date();
    const providers = this.registry.conversationDataProviders();
    const policies: RetentionPreviewDto['policies'] = [];
    const totals = { conversations: 0, skippedByHold: 0, counts: {} as DataCounts };
    const budget: ScanBudget = { remaining: maxConversations, truncated: false };
    let truncated = false;
    for (const pass of await this.plan(at)) {
      const outcome: PassOutcome = { pass, conversations: 0, skippedByHold: 0, counts: {} };
      const sample: string[] = [];
      budget.truncated = false;
      if (!pass.suspended) {
        for await (const { due, held } of this.dueBatches(pass, { budget })) {
          outcome.skippedByHold += held;
          if (due.length === 0) continue;
          const ids = due.map((conversation) => conversation.id);
          for (const provider of providers) addCounts(outcome.counts, await provider.countForConversations(ids));
          addCounts(outcome.counts, { [CONVERSATIONS_COLLECTION]: ids.length });
          outcome.conversations += ids.length;
          sample.push(...ids.slice(0, Math.max(0, sampleLimit - sample.length)).map((id) => id.toHexString()));
        }
      }
      policies.push({ ...toPassDto(outcome), sampleConversationIds: sample, truncated: budget.truncated });
      truncated ||= budget.truncated;
      totals.conversations += outcome.conversations;
      totals.skippedByHold += outcome.skippedByHold;
      addCounts(totals.counts, outcome.counts);
    }
    return { at: at.toISOString(), enabled: this.settings.enableDataRetention, truncated, policies, totals };
  }

  private async plan(now: Date): Promise<RetentionPass[]> {
    return planRetention(await this.policies.current(), {
      now,
      graceMinutes: this.settings.permanentDeleteGraceMinutes,
      anonymizationEnabled: this.settings.anonymizationEnabled,
    });
  }

  /**
   * The pass's conversations in batches by _id (see isDue); those a hold covers are taken out and
   * counted. With a budget, it stops once the budget's conversations have been examined, and
   * says whether the pass had any left (one more query of one conversation).
   */
  private async *dueBatches(pass: RetentionPass, options: { signal?: AbortSignal; budget?: ScanBudget } = {}): AsyncGenerator<DueBatch> {
    const { signal, budget } = options;
    let afterId: Types.ObjectId | undefined;
    const next = (limit: number) => this.conversations.findForRetention({ ...pass.query, ...(afterId ? { afterId } : {}), limit });
    for (;;) {
      signal?.throwIfAborted();
      const limit = budget ? Math.min(BATCH, budget.remaining) : BATCH;
      if (limit === 0) {
        budget!.truncated = (await next(1)).length > 0;
        return;
      }
      const batch = await next(limit);
      if (budget) budget.remaining -= batch.length;
      if (batch.length === 0) return;
      afterId = batch[batch.length - 1]!.id;
      const eligible = batch.filter((conversation) => isDue(pass, conversation));
      const due = await this.withoutHeld(eligible);
      yield { due, held: eligible.length - due.length };
      if (batch.length < limit) return;
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

  /**
   * Marks the conversations that are still due (see ConversationsService.markForPurge), then
   * purges everything under those, and the conversations last (so an interrupted purge is found again).
   */
  private async purge(pass: RetentionPass, due: RetentionCandidate[]): Promise<BatchOutcome> {
    const ids = await this.conversations.markForPurge(
      due.map((conversation) => conversation.id),
      pass.purgeGuard,
    );
    const counts: DataCounts = {};
    if (ids.length === 0) return { conversations: 0, counts };
    for (const provider of this.registry.conversationDataProviders()) addCounts(counts, await provider.purgeConversations(ids));
    addCounts(counts, await this.conversations.purgeConversations(ids));
    return { conversations: ids.length, counts };
  }

  /**
   * Gives each owner's conversations to a pseudonym, store by store, then makes released legal
   * holds on them forget the owner and the conversation, then the conversations themselves (last:
   * an interrupted pass finds them again). One pseudonym per owner per run (`pseudonyms`), so one
   * person's conversations that expire together stay one anonymous person; the service does not
   * store people's names, so the masking covers e-mail addresses, phone, card and IBAN numbers, not names.
   */
  private async anonymise(due: RetentionCandidate[], pseudonyms: Map<string, string>): Promise<BatchOutcome> {
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
      addCounts(counts, { [LEGAL_HOLDS_COLLECTION]: await this.holds.forgetConversationOwner(ids, userId) });
      addCounts(counts, await this.conversations.pseudonymiseConversations(ids, request));
    }
    return { conversations: due.length, counts };
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

  private async recordReceipt(
    runId: string,
    actor: AuditActor,
    enabled: boolean,
    outcomes: PassOutcome[],
    failure: Error | null,
  ): Promise<void> {
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
          disabled: !enabled,
          outcome: failure ? 'failed' : 'succeeded',
          ...(failure ? { error: failureOf(failure) } : {}),
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
 * Whether a conversation the pass's query found is the pass's to act on: policy passes leave
 * conversations deleted for good to the `permanently-deleted` pass.
 */
function isDue(pass: RetentionPass, conversation: RetentionCandidate): boolean {
  return !(pass.leavesDeleted && conversation.status === 'deleted');
}

/**
 * What the receipt says of a failure: the error's class and code and a fixed text, never its
 * message. Driver messages can echo stored values (E11000 names the duplicate key), and the
 * receipt is hashed into the audit chain, where nothing can be erased; the run record, which is
 * not, keeps the full message.
 */
function failureOf(failure: Error): { class: string; code: string | number | null; text: string } {
  const code: unknown = (failure as { code?: unknown }).code;
  return {
    class: /^[A-Za-z][\w$]{0,63}$/.test(failure.name) ? failure.name : 'Error',
    code: typeof code === 'number' || (typeof code === 'string' && /^[\w.-]{1,64}$/.test(code)) ? code : null,
    text: RUN_FAILED_TEXT,
  };
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

/** The run record's counts: whether the policies were off, conversations, holds, and per store what was purged and what anonymised. */
function jobCounts(enabled: boolean, outcomes: PassOutcome[]): JobCounts {
  let conversations = 0;
  let skippedByHold = 0;
  const perStore: JobCounts = {};
  for (const outcome of outcomes) {
    conversations += outcome.conversations;
    skippedByHold += outcome.skippedByHold;
    const verb = outcome.pass.action === 'delete' ? 'purged' : 'anonymised';
    for (const [store, count] of Object.entries(outcome.counts)) perStore[`${verb}:${store}`] = (perStore[`${verb}:${store}`] ?? 0) + count;
  }
  return { disabled: enabled ? 0 : 1, conversations, skippedByHold, ...perStore };
}
