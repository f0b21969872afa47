import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Types } from 'mongoose';
import type { AuthenticatedUser } from '../../auth/authenticated-user.js';
import type { AppConfig } from '../../common/config/app-config.js';
import { AppException, ConflictStateException, type ErrorBody, ResourceNotFoundException } from '../../common/errors/app-exceptions.js';
import { ErrorCode } from '../../common/errors/error-codes.js';
import { newInstanceId } from '../../common/jobs/lease.js';
import type { DataCounts } from '../../common/user-data/user-data.js';
import { UserDataRegistry } from '../../common/user-data/user-data.registry.js';
import { AuditLog } from '../audit/audit-log.service.js';
import { LegalHoldsService } from '../holds/legal-holds.service.js';
import { ErasureReceiptDto } from './dto/erasure.dto.js';
import { ErasureClaim, ErasureRecord, ErasuresRepository } from './erasures.repository.js';
import { maskText } from './pii-masker.js';
import { createPseudonym, pseudonymisationAs } from './pseudonymiser.js';
import type { ErasureCount, ErasureMode } from './schemas/erasure.schema.js';

/** How long a runner's claim on a record holds without renewal; past it, another runner (the erasures job) takes over. */
const CLAIM_TTL_MS = 60_000;
const CLAIM_RENEW_MS = CLAIM_TTL_MS / 4;
/** How often a request that waits for another runner's erasure of the same user looks at it. */
const FOLLOW_POLL_MS = 200;
/** After a failed attempt, the record waits this long for the next one. */
export const RETRY_DELAY_MS = 60_000;
/** Attempts (the first run, resumptions and retries) before an erasure is given up as failed. */
export const MAX_ERASURE_ATTEMPTS = 10;
/** Why an erasure stopped for a legal hold (its record's `error`). */
export const STOPPED_BY_LEGAL_HOLD =
  'A legal hold was placed on the user while the erasure was in progress: it stopped before the parts not yet done, ' +
  'which were not changed; what was done stays done';

export interface ErasureRequest {
  subjectUserId: string;
  requester: AuthenticatedUser;
  reason?: string;
}

export interface AnonymisationRequest extends ErasureRequest {
  /** The person's names and e-mail addresses to mask in their texts (the service stores none). */
  names: readonly string[];
}

/** What the erasures job reports. */
export interface ResumeCounts extends Record<string, number> {
  resumed: number;
  done: number;
  failed: number;
  postponed: number;
}

/** Another runner took the record over (this one's claim expired while it was stalled): it finishes the work. */
class ClaimLostError extends Error {
  constructor(id: Types.ObjectId) {
    super(`Erasure ${id.toHexString()}: the claim was lost to another runner`);
  }
}

/**
 * Erasure (GDPR Art. 17) and anonymisation of a user, through every registered user-data
 * provider. Each operation is a record in chat_erasures: created under a claim held by the
 * runner (renewed while it works), each provider marked done with its counts as soon as it
 * finishes, so an instance that stops mid-way leaves a record the `erasures` job resumes with the
 * remaining providers (all of them are idempotent). One operation per user at a time: a second
 * request for the same user waits for the first and answers its receipt (same mode) or runs after
 * it (the other mode). The audit entry is recorded after every provider has run, keeping only the
 * keyed hash of the user's id; the record itself keeps only that hash once done.
 *
 * Legal holds are checked before the record is created and again before each provider: a hold
 * placed while the erasure runs stops it (state `failed`) before the next part; the receipt
 * names the parts that ran.
 *
 * What the request answers (see `answer`): the receipt when done; the receipt with state
 * `pending` when an attempt failed (the `erasures` job retries it; the controller answers 202);
 * 409 LEGAL_HOLD with the receipt in `details.erasure` when a hold stopped it; 500
 * ERASURE_FAILED with the receipt when its attempts are used up.
 */
@Injectable()
export class ErasureService {
  private readonly logger = new Logger('Erasure');
  private readonly anonymizationEnabled: boolean;

  constructor(
    private readonly records: ErasuresRepository,
    private readonly registry: UserDataRegistry,
    private readonly holds: LegalHoldsService,
    private readonly audit: AuditLog,
    config: ConfigService<AppConfig, true>,
  ) {
    this.anonymizationEnabled = config.get('compliance', { infer: true }).anonymizationEnabled;
  }

  /** Removes every trace of the user; answers the receipt once done (or pending, see `answer`). 409 LEGAL_HOLD when a hold covers them. */
  erase(request: ErasureRequest): Promise<ErasureReceiptDto> {
    return this.perform('erase', request, []);
  }

  /** Replaces the user by an irreversible pseudonym and masks their personal data. 404 ANONYMIZATION_DISABLED when off. */
  anonymise(request: AnonymisationRequest): Promise<ErasureReceiptDto> {
    this.assertAnonymisationEnabled();
    return this.perform('anonymise', request, request.names);
  }

  assertAnonymisationEnabled(): void {
    if (!this.anonymizationEnabled) {
      throw new ResourceNotFoundException(
        ErrorCode.ANONYMIZATION_DISABLED,
        'Anonymisation is turned off on this deployment (CHAT_ANONYMIZATION_ENABLED=false)',
      );
    }
  }

  async receipt(erasureId: string): Promise<ErasureReceiptDto> {
    const record = await this.records.find(new Types.ObjectId(erasureId));
    if (!record) throw new ResourceNotFoundException(ErrorCode.ERASURE_NOT_FOUND, 'Erasure not found');
    return this.toReceipt(record);
  }

  /** The erasures job: resumes, one after another, the records whose runner stopped (or whose retry is due). */
  async resumeAbandoned(signal: AbortSignal, progress: (message: string, counts: ResumeCounts) => Promise<void>): Promise<ResumeCounts> {
    const counts: ResumeCounts = { resumed: 0, done: 0, failed: 0, postponed: 0 };
    for (;;) {
      signal.throwIfAborted();
      const claim = this.newClaim();
      const record = await this.records.claimNextAbandoned(claim, new Date());
      if (!record) return counts;
      counts.resumed += 1;
      const id = record._id.toHexString();
      try {
        const outcome = await this.runClaimed(record, claim, (message) => progress(`erasure ${id}: ${message}`, counts));
        counts[outcome.state === 'done' ? 'done' : outcome.state === 'failed' ? 'failed' : 'postponed'] += 1;
      } catch {
        // The attempt failed and not even that could be recorded: its claim expires, and a later run resumes it.
        counts.postponed += 1;
      }
      await progress(`erasure ${id}: ${counts.resumed} resumed so far`, counts);
    }
  }

  private async perform(mode: ErasureMode, request: ErasureRequest, names: readonly string[]): Promise<ErasureReceiptDto> {
    const { subjectUserId, requester } = request;
    await this.holds.assertUserNotHeld(subjectUserId);
    const subjectHash = await this.audit.userIdHash(subjectUserId);
    const reason = request.reason === undefined ? null : maskText(request.reason.trim(), { names });
    for (;;) {
      const claim = this.newClaim();
      let record: ErasureRecord | null = null;
      try {
        record = await this.records.insertRunning(
          {
            subjectUserId,
            subjectHash,
            mode,
            ...(mode === 'anonymise' ? { pseudonym: createPseudonym(subjectUserId), maskNames: [...names] } : {}),
            requestedBy: { userId: requester.id, roles: [...requester.roles], self: requester.id === subjectUserId },
            reason,
          },
          claim,
          new Date(),
        );
      } catch (error) {
        if ((error as { code?: number }).code !== 11000) throw error;
      }
      if (record) return this.answer(await this.runClaimed(record, claim), subjectUserId);
      // One operation per user at a time: wait for the one in progress (it finished meanwhile if there is none).
      // Of the same mode, its outcome is this request's too, a failed attempt included; of the other, this one runs after it.
      const active = await this.records.findActive(subjectHash);
      if (!active) continue;
      const sameMode = active.mode === mode;
      const outcome = await this.follow(active._id, sameMode);
      if (sameMode) return this.answer(outcome, subjectUserId);
    }
  }

  /**
   * The request's answer: the receipt when done, or when an attempt failed and the record waits
   * for its retry (`pending`); a record given up is an error answer carrying the receipt in
   * `details.erasure`: 409 LEGAL_HOLD when a hold covers the user (it stopped the erasure, or
   * would refuse it again), else 500 ERASURE_FAILED (attempts used up, or a hold released since).
   */
  private async answer(record: ErasureRecord, subjectUserId: string): Promise<ErasureReceiptDto> {
    const receipt = this.toReceipt(record);
    if (record.state !== 'failed') return receipt;
    const hold = await this.legalHoldOn(subjectUserId);
    if (hold) {
      throw new ConflictStateException(
        ErrorCode.LEGAL_HOLD,
        `A legal hold covers the user: the ${record.mode} stopped, nothing further was changed (details.erasure names the parts that ran)`,
        { ...hold, erasure: receipt },
      );
    }
    throw new AppException(
      HttpStatus.INTERNAL_SERVER_ERROR,
      ErrorCode.ERASURE_FAILED,
      `The ${record.mode} did not finish and was given up (details.erasure.error says why); asking again starts it anew`,
      { erasure: receipt },
    );
  }

  /**
   * Waits for another runner's record to finish, taking it over when that runner's claim expires
   * (or its retry is due). With `orPending`, a failed attempt (the record waits for its retry) ends the wait too.
   */
  private async follow(id: Types.ObjectId, orPending: boolean): Promise<ErasureRecord> {
    for (;;) {
      const record = await this.records.find(id);
      if (!record) throw new ResourceNotFoundException(ErrorCode.ERASURE_NOT_FOUND, 'Erasure not found');
      if (record.state === 'done' || record.state === 'failed' || (orPending && record.state === 'pending')) return record;
      const now = new Date();
      if (record.claimedUntil !== null && record.claimedUntil <= now) {
        const claim = this.newClaim();
        const claimed = await this.records.claim(id, claim, now);
        if (claimed) return this.runClaimed(claimed, claim);
      }
      await new Promise((wake) => setTimeout(wake, FOLLOW_POLL_MS));
    }
  }

  /**
   * Works on a record this runner has claimed, renewing the claim meanwhile. A failed attempt is
   * recorded and answers the record as it is now (pending, or failed when its attempts are used
   * up); only when even that cannot be recorded is the error thrown.
   */
  private async runClaimed(
    record: ErasureRecord,
    claim: ErasureClaim,
    progress?: (message: string) => Promise<void>,
  ): Promise<ErasureRecord> {
    const run = { lost: false };
    const renewal = setInterval(() => {
      this.records.renewClaim(record._id, this.extended(claim)).then(
        (held) => (run.lost ||= !held),
        (error: unknown) => this.logger.warn({ err: error, erasureId: record._id.toHexString() }, 'could not renew the claim'),
      );
    }, CLAIM_RENEW_MS);
    renewal.unref();
    try {
      return await this.work(record, claim, run, progress);
    } catch (error) {
      if (!(error instanceof ClaimLostError)) return await this.failAttempt(record, claim, error);
    } finally {
      clearInterval(renewal);
    }
    // The runner that took the record over finishes it.
    return this.follow(record._id, true);
  }

  private async work(
    record: ErasureRecord,
    claim: ErasureClaim,
    run: { lost: boolean },
    progress?: (message: string) => Promise<void>,
  ): Promise<ErasureRecord> {
    const id = record._id;
    // In progress, the record always names its subject (it is unset only when done).
    const subjectUserId = record.subjectUserId!;
    if (record.attempts > MAX_ERASURE_ATTEMPTS) {
      return this.giveUp(record, claim, `Given up after ${MAX_ERASURE_ATTEMPTS} attempts; last error: ${record.error}`);
    }
    const pseudonymisation =
      record.mode === 'anonymise' ? pseudonymisationAs(subjectUserId, record.pseudonym!, record.maskNames ?? []) : null;
    const done = new Set(record.providersDone);
    for (const provider of this.registry.userDataProviders()) {
      if (done.has(provider.name)) continue;
      if (run.lost) throw new ClaimLostError(id);
      // A hold placed since the last part (one indexed look-up per part) stops the erasure before the next one.
      if (await this.legalHoldOn(subjectUserId)) return this.giveUp(record, claim, STOPPED_BY_LEGAL_HOLD);
      const counts = pseudonymisation ? await provider.pseudonymise(pseudonymisation) : await provider.erase(subjectUserId);
      if (!(await this.records.markProviderDone(id, this.extended(claim), provider.name, countRows(provider.name, counts)))) {
        throw new ClaimLostError(id);
      }
      record.counts.push(...countRows(provider.name, counts));
      await progress?.(`${provider.name} done`);
    }
    if (!record.audited) {
      await this.audit.record({
        action: record.mode === 'erase' ? 'user.erased' : 'user.anonymised',
        // A self-request's actor is the subject: the audit log keeps only the hash of both.
        actor: { userId: record.requestedBy.userId!, roles: record.requestedBy.roles },
        subjectUserId,
        target: { type: 'erasure', id: id.toHexString() },
        details: { mode: record.mode, counts: Object.entries(totals(record.counts)).map(([store, count]) => ({ store, count })) },
      });
      if (!(await this.records.markAudited(id, claim))) throw new ClaimLostError(id);
    }
    const finished = await this.records.finish(id, claim, record.requestedBy.self, new Date());
    if (!finished) throw new ClaimLostError(id);
    this.logger.log({ erasureId: id.toHexString(), mode: record.mode, counts: totals(finished.counts) }, `${record.mode}: done`);
    return finished;
  }

  /** The details of the legal hold refusal (`holdId`, `holdIds`) when a hold covers the user now, else null. */
  private async legalHoldOn(subjectUserId: string): Promise<Record<string, unknown> | null> {
    try {
      await this.holds.assertUserNotHeld(subjectUserId);
      return null;
    } catch (error) {
      if (isLegalHoldRefusal(error)) return ((error.getResponse() as ErrorBody).details ?? {}) as Record<string, unknown>;
      throw error;
    }
  }

  private async giveUp(record: ErasureRecord, claim: ErasureClaim, error: string): Promise<ErasureRecord> {
    const failed = await this.records.fail(record._id, claim, error, new Date());
    if (!failed) throw new ClaimLostError(record._id);
    this.logger.warn({ erasureId: record._id.toHexString() }, `${record.mode}: failed: ${error}`);
    return failed;
  }

  /**
   * Records a failed attempt and answers the record as it is now: waiting for its retry, or given
   * up (its attempts used up, or a provider refused for a legal hold placed meanwhile). When even
   * that cannot be recorded (the store is unreachable), the attempt's error is thrown: the claim
   * expires by itself and the erasures job resumes the record.
   */
  private async failAttempt(record: ErasureRecord, claim: ErasureClaim, error: unknown): Promise<ErasureRecord> {
    const message = error instanceof Error ? error.message : String(error);
    const erasureId = record._id.toHexString();
    try {
      if (isLegalHoldRefusal(error)) return await this.giveUp(record, claim, STOPPED_BY_LEGAL_HOLD);
      this.logger.error(
        { err: error, erasureId, attempt: record.attempts },
        `${record.mode}: attempt ${record.attempts} failed: ${message}`,
      );
      if (record.attempts >= MAX_ERASURE_ATTEMPTS) return await this.giveUp(record, claim, `Attempt ${record.attempts} failed: ${message}`);
      await this.records.postpone(record._id, claim, message, new Date(Date.now() + RETRY_DELAY_MS));
      const postponed = await this.records.find(record._id);
      if (postponed) return postponed;
    } catch (recordError) {
      // Another runner took the record over meanwhile: it goes on with it.
      if (recordError instanceof ClaimLostError) return this.follow(record._id, true);
      this.logger.warn({ err: recordError, erasureId }, 'could not record the failed attempt');
    }
    throw error;
  }

  private newClaim(): ErasureClaim {
    return { by: newInstanceId(), until: new Date(Date.now() + CLAIM_TTL_MS) };
  }

  private extended(claim: ErasureClaim): ErasureClaim {
    return { by: claim.by, until: new Date(Date.now() + CLAIM_TTL_MS) };
  }

  private toReceipt(record: ErasureRecord): ErasureReceiptDto {
    // A failed record lists the parts that did not run as well: what a hold or the last error left untouched.
    const pending =
      record.state === 'done'
        ? []
        : this.registry
            .userDataProviders()
            .map((provider) => provider.name)
            .filter((name) => !record.providersDone.includes(name));
    return {
      erasureId: record._id.toHexString(),
      mode: record.mode,
      state: record.state,
      requestedBy: {
        userId: record.requestedBy.self ? null : (record.requestedBy.userId ?? null),
        roles: record.requestedBy.roles,
        self: record.requestedBy.self,
      },
      reason: record.reason,
      counts: totals(record.counts),
      providers: [
        ...record.providersDone.map((name) => ({
          name,
          done: true,
          counts: totals(record.counts.filter((row) => row.provider === name)),
        })),
        ...pending.map((name) => ({ name, done: false, counts: {} })),
      ],
      attempts: record.attempts,
      error: record.error,
      startedAt: record.startedAt.toISOString(),
      finishedAt: record.finishedAt?.toISOString() ?? null,
    };
  }
}

function isLegalHoldRefusal(error: unknown): error is AppException {
  return error instanceof AppException && (error.getResponse() as ErrorBody).code === ErrorCode.LEGAL_HOLD;
}

function countRows(provider: string, counts: DataCounts): ErasureCount[] {
  return Object.entries(counts).map(([store, count]) => ({ provider, store, count }));
}

/** Counts per store, all providers together. */
function totals(rows: readonly ErasureCount[]): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const row of rows) sums[row.store] = (sums[row.store] ?? 0) + row.count;
  return sums;
}
