package wms.chat.store;

import org.h2.mvstore.MVStore;

import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Makes applied writes durable: commits the MVStore and forces the file to disk, sharing one
 * commit and one fsync among every writer waiting at the same time (group commit).
 *
 * <p>Writers apply their changes while holding {@link #applyLock()}'s read side, then call
 * {@link #awaitDurable()}. The commit itself takes the write side, so it never captures half of a
 * write that touches several maps (a document and its unique indexes); the fsync runs outside it,
 * while the next writers apply their changes.
 */
final class GroupCommitter {

  /** What stops the committer for good: the store failed to write, and its file must be reopened. */
  static final class CommitFailedException extends RuntimeException {
    CommitFailedException(Throwable cause) {
      super(cause.getMessage(), cause);
    }
  }

  private final MVStore store;
  private final ReentrantReadWriteLock applyLock = new ReentrantReadWriteLock();
  private final Object monitor = new Object();
  private long requested;
  private long durable;
  private boolean leaderRunning;
  private CommitFailedException failure;
  private long commits;

  GroupCommitter(MVStore store) {
    this.store = store;
  }

  ReentrantReadWriteLock applyLock() {
    return applyLock;
  }

  /**
   * Returns once every write applied before this call is committed and on disk. Throws
   * {@link CommitFailedException} when the store could not write; it then stays failed.
   */
  void awaitDurable() {
    long ticket;
    long upTo;
    synchronized (monitor) {
      ticket = ++requested;
      while (true) {
        if (failure != null) {
          throw failure;
        }
        if (durable >= ticket) {
          return;
        }
        if (!leaderRunning) {
          leaderRunning = true;
          // Everything registered so far was applied before it registered: this commit covers it.
          upTo = requested;
          break;
        }
        waitUninterruptibly();
      }
    }
    Throwable error = null;
    try {
      commitAndSync();
    } catch (RuntimeException | Error e) {
      error = e;
    }
    synchronized (monitor) {
      leaderRunning = false;
      if (error != null) {
        failure = new CommitFailedException(error);
      } else {
        durable = Math.max(durable, upTo);
        commits++;
      }
      monitor.notifyAll();
      if (failure != null) {
        throw failure;
      }
    }
  }

  /** Number of commits (each with one fsync) so far. */
  long commits() {
    synchronized (monitor) {
      return commits;
    }
  }

  boolean failed() {
    synchronized (monitor) {
      return failure != null;
    }
  }

  private void commitAndSync() {
    applyLock.writeLock().lock();
    try {
      store.commit();
      if (store.getPanicException() != null) {
        throw store.getPanicException();
      }
    } finally {
      applyLock.writeLock().unlock();
    }
    store.sync();
  }

  private void waitUninterruptibly() {
    try {
      monitor.wait();
    } catch (InterruptedException ignored) {
      // A writer must not return before its write is durable; nothing here interrupts on purpose.
    }
  }
}
