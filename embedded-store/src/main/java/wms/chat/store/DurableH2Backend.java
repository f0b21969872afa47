package wms.chat.store;

import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import io.netty.channel.Channel;
import org.h2.mvstore.MVStore;

import java.io.File;
import java.io.IOException;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * mongo-java-server's H2 (MVStore file) backend with MongoDB's durability promise: a write is
 * answered only once it is committed and forced to disk (group commit shares one fsync among
 * concurrent writers), unless its write concern says {@code j: false} or {@code w: 0}.
 *
 * <p>Writes are refused with MongoDB's {@code OutOfDiskSpace} (14031) while the disk has less than
 * the configured free space, so a full disk stops writes cleanly while reads go on. If a commit
 * fails anyway, the MVStore has closed itself: the failure is reported through {@code onFailure}
 * (the launcher exits and its supervisor restarts it on the same file) and every waiting writer is
 * answered with an error, never with success.
 */
final class DurableH2Backend extends H2Backend {

  static final String STATUS_COMMAND = "wmsStoreStatus";
  static final int OUT_OF_DISK_SPACE = 14031;
  static final int SHUTDOWN_IN_PROGRESS = 91;

  private static final Set<String> WRITE_COMMANDS = Set.of(
      "insert", "update", "delete", "findandmodify", "create", "createindexes", "drop", "dropindexes",
      "dropdatabase", "renamecollection", "collmod");

  private final File dataDirectory;
  private final long minFreeBytes;
  private final GroupCommitter committer;
  private final Consumer<Throwable> onFailure;
  private final ExecutorService background = Executors.newSingleThreadExecutor(runnable -> {
    Thread thread = new Thread(runnable, "embedded-store-background-commit");
    thread.setDaemon(true);
    return thread;
  });

  DurableH2Backend(MVStore store, File dataDirectory, long minFreeBytes, Consumer<Throwable> onFailure) {
    super(store);
    this.dataDirectory = dataDirectory;
    this.minFreeBytes = minFreeBytes;
    this.committer = new GroupCommitter(store);
    this.onFailure = onFailure;
    // Opening existing databases may have written metadata: make that durable before serving.
    committer.awaitDurable();
  }

  /** Stops the background commits, then closes the store with no write half applied. */
  @Override
  public void close() {
    background.shutdown();
    try {
      background.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    committer.applyLock().writeLock().lock();
    try {
      super.close();
    } finally {
      committer.applyLock().writeLock().unlock();
    }
  }

  CursorRegistry cursors() {
    return getCursorRegistry();
  }

  @Override
  protected MongoDatabase openOrCreateDatabase(String databaseName) {
    return IndexedBackends.indexedH2Database(this, databaseName);
  }

  @Override
  public Document handleCommand(Channel channel, String databaseName, String command, Document query) {
    if (STATUS_COMMAND.equalsIgnoreCase(command)) {
      return status();
    }
    if (!isWrite(command, query)) {
      return super.handleCommand(channel, databaseName, command, query);
    }
    refuseWhenDiskIsFull();
    Document response;
    RuntimeException failure = null;
    committer.applyLock().readLock().lock();
    try {
      response = super.handleCommand(channel, databaseName, command, query);
    } catch (RuntimeException e) {
      // Part of a failed batch may have been applied; it is committed like any other write.
      response = null;
      failure = e;
    } finally {
      committer.applyLock().readLock().unlock();
    }
    if (failure != null) {
      makeDurable();
      throw failure;
    }
    if (waitsForDisk(query)) {
      makeDurable();
    } else {
      // j: false / w: 0: answered now, committed with the next group.
      background.execute(this::makeDurableQuietly);
    }
    return response;
  }

  private void makeDurable() {
    try {
      committer.awaitDurable();
    } catch (GroupCommitter.CommitFailedException e) {
      onFailure.accept(e.getCause());
      if (isDiskFull(e)) {
        throw diskFullError();
      }
      throw new MongoServerError(SHUTDOWN_IN_PROGRESS, "ShutdownInProgress",
          "The store could not write its data file and is restarting: " + e.getMessage());
    }
  }

  private void makeDurableQuietly() {
    try {
      makeDurable();
    } catch (RuntimeException ignored) {
      // Reported through onFailure; nobody waits for this answer.
    }
  }

  private void refuseWhenDiskIsFull() {
    if (dataDirectory.getUsableSpace() < minFreeBytes) {
      throw diskFullError();
    }
  }

  private MongoServerError diskFullError() {
    return new MongoServerError(OUT_OF_DISK_SPACE, "OutOfDiskSpace", String.format(Locale.ROOT,
        "The store's disk is full: %d MB free in %s, writes resume above %d MB",
        dataDirectory.getUsableSpace() >> 20, dataDirectory, minFreeBytes >> 20));
  }

  private Document status() {
    long usable = dataDirectory.getUsableSpace();
    Document response = new Document();
    response.put("durable", Boolean.TRUE);
    response.put("dataDirectory", dataDirectory.toString());
    response.put("usableBytes", usable);
    response.put("minFreeBytes", minFreeBytes);
    response.put("diskFull", usable < minFreeBytes);
    response.put("commits", committer.commits());
    response.put("failed", committer.failed());
    response.put("ok", 1.0);
    return response;
  }

  static boolean isDiskFull(Throwable error) {
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      String message = String.valueOf(cause.getMessage()).toLowerCase(Locale.ROOT);
      if (cause instanceof IOException || cause.getClass().getName().startsWith("org.h2")) {
        if (message.contains("no space left") || message.contains("disk quota") || message.contains("file too large")) {
          return true;
        }
      }
    }
    return false;
  }

  private static boolean isWrite(String command, Document query) {
    String name = command.toLowerCase(Locale.ROOT);
    if (WRITE_COMMANDS.contains(name)) {
      return true;
    }
    if (name.equals("aggregate") && query.get("pipeline") instanceof List<?> pipeline && !pipeline.isEmpty()) {
      Object last = pipeline.get(pipeline.size() - 1);
      return last instanceof Document stage && (stage.containsKey("$out") || stage.containsKey("$merge"));
    }
    return false;
  }

  /** MongoDB's default (no write concern, or w ≥ 1 / majority without j: false) waits for the journal. */
  private static boolean waitsForDisk(Document query) {
    if (!(query.get("writeConcern") instanceof Document concern)) {
      return true;
    }
    if (Boolean.FALSE.equals(concern.get("j"))) {
      return false;
    }
    Object w = concern.get("w");
    return !(w instanceof Number number && number.intValue() == 0);
  }
}
