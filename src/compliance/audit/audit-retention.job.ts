import { Injectable, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../../common/config/app-config.js';
import type { JobContext } from '../../jobs/job.js';
import { JobScheduler } from '../../jobs/job-scheduler.service.js';
import { ChainChecker, PruneAnchor } from './audit-chain.js';
import { AuditLog } from './audit-log.service.js';
import { AuditLogRepository } from './audit-log.repository.js';
import { toAnchor } from './audit-verify.js';

export const AUDIT_RETENTION_JOB = 'audit-retention';
/** Daily, a quarter of an hour after the data retention job's default time (CHAT_RETENTION_CRON, 03:30). */
export const AUDIT_RETENTION_CRON = '45 3 * * *';
const DELETE_BATCH = 500;
const DAY_MS = 24 * 60 * 60_000;

/** What a pruning removes: a prefix of the chain, and what the first entry kept must name. */
type PruneRange = Omit<PruneAnchor, 'seq'> & { lastPrunedAt: Date };

export interface AuditRetentionCounts extends Record<string, number> {
  /** Entries removed by this run's pruning. */
  pruned: number;
  /** Entries removed to finish a pruning an earlier run left half-done. */
  resumed: number;
}

/**
 * Keeps the audit log no longer than CHAT_AUDIT_RETENTION_DAYS. Only a prefix of the chain is
 * ever removed: from the oldest entry up to (not including) the first one younger than the
 * period. Before removing anything it appends an `audit.pruned` entry recording the range and the
 * hash of the last entry removed, which is what verification checks the first entry kept against;
 * entries then go oldest first, in batches, so a run stopped half-way leaves a chain that still
 * verifies and is finished by the next run. Every entry removed is checked first: a broken link
 * stops the job (recorded as failed) and the evidence stays.
 */
@Injectable()
export class AuditRetentionJob implements OnModuleInit {
  private readonly retentionDays: number;

  constructor(
    private readonly scheduler: JobScheduler,
    private readonly entries: AuditLogRepository,
    private readonly audit: AuditLog,
    config: ConfigService<AppConfig, true>,
  ) {
    this.retentionDays = config.get('compliance', { infer: true }).auditRetentionDays;
  }

  onModuleInit(): void {
    this.scheduler.register({ name: AUDIT_RETENTION_JOB, cron: AUDIT_RETENTION_CRON, run: (context) => this.run(context) });
  }

  async run(context: JobContext): Promise<AuditRetentionCounts> {
    const counts: AuditRetentionCounts = { pruned: 0, resumed: 0 };
    const first = await this.entries.first();
    if (!first) return counts;
    const latest = await this.entries.lastPruning();
    const unfinished = latest ? toAnchor(latest) : null;
    if (unfinished && first.seq <= unfinished.throughSeq) {
      counts.resumed = await this.remove(first.seq, unfinished.throughSeq, context, counts, 'resumed');
    }

    const olderThan = new Date(Date.now() - this.retentionDays * DAY_MS);
    const range = await this.outlived(olderThan);
    if (!range) return counts;
    await this.audit.record({
      action: 'audit.pruned',
      actor: { system: AUDIT_RETENTION_JOB },
      details: {
        fromSeq: range.fromSeq,
        throughSeq: range.throughSeq,
        entries: range.throughSeq - range.fromSeq + 1,
        lastPrunedHash: range.lastPrunedHash,
        lastPrunedAt: range.lastPrunedAt.toISOString(),
        olderThan: olderThan.toISOString(),
        retentionDays: this.retentionDays,
      },
    });
    await context.progress(`pruning audit entries ${range.fromSeq}..${range.throughSeq} (older than ${olderThan.toISOString()})`, counts);
    counts.pruned = await this.remove(range.fromSeq, range.throughSeq, context, counts, 'pruned');
    return counts;
  }

  /** The prefix of the chain older than `olderThan`, each entry checked; null when there is none. */
  private async outlived(olderThan: Date): Promise<PruneRange | null> {
    const checker = new ChainChecker(await this.audit.hashKey(), async (firstSeq) => {
      const pruning = await this.entries.pruningReaching(firstSeq);
      return pruning ? toAnchor(pruning) : null;
    });
    let range: PruneRange | null = null as PruneRange | null;
    for await (const entry of this.entries.streamFrom(0)) {
      if (entry.at >= olderThan) break;
      const broken = await checker.check(entry);
      if (broken) {
        throw new Error(
          `The audit chain is broken at seq ${broken.seq} (${broken.problem}): ${broken.message}. Nothing was pruned, ` +
            'so the evidence stays; run npm run audit:verify',
        );
      }
      range = { fromSeq: range?.fromSeq ?? entry.seq, throughSeq: entry.seq, lastPrunedHash: entry.hash, lastPrunedAt: entry.at };
    }
    return range;
  }

  /** Deletes entries fromSeq..throughSeq, oldest first, in batches; answers how many went. */
  private async remove(
    fromSeq: number,
    throughSeq: number,
    context: JobContext,
    counts: AuditRetentionCounts,
    counter: 'pruned' | 'resumed',
  ): Promise<number> {
    let removed = 0;
    for (let start = fromSeq; start <= throughSeq; start += DELETE_BATCH) {
      context.signal.throwIfAborted();
      const end = Math.min(start + DELETE_BATCH - 1, throughSeq);
      removed += await this.entries.deleteSeqs(Array.from({ length: end - start + 1 }, (_, index) => start + index));
      await context.progress(`audit entries through seq ${end} of ${throughSeq} removed`, { ...counts, [counter]: removed });
    }
    return removed;
  }
}
