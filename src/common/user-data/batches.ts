/** Rounds in a row that may change nothing before a rewrite is declared stuck. */
const STALLED_ROUNDS = 3;

/**
 * Rewrites documents batch by batch until none is left to rewrite: `next` finds documents that
 * still need it (the rewrite takes them out of what `next` matches, e.g. by replacing the user id),
 * `rewrite` changes them and answers how many it changed. No sort and no position are needed, so
 * every batch costs the same however far the work has got, and a run interrupted half-way is
 * simply run again. A batch that changes nothing is retried (the embedded store can answer "no
 * match" to an update that raced another write); several in a row mean the documents cannot be
 * rewritten, which is an error rather than an endless loop.
 */
export async function rewriteInBatches<T>(next: () => Promise<T[]>, rewrite: (batch: T[]) => Promise<number>): Promise<number> {
  let total = 0;
  let stalled = 0;
  for (;;) {
    const batch = await next();
    if (batch.length === 0) return total;
    const changed = await rewrite(batch);
    total += changed;
    stalled = changed === 0 ? stalled + 1 : 0;
    if (stalled >= STALLED_ROUNDS)
      throw new Error(`Rewriting made no progress in ${STALLED_ROUNDS} rounds: ${batch.length} documents left as they were`);
  }
}
