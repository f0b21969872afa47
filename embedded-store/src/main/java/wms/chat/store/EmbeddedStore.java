package wms.chat.store;

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import org.h2.mvstore.MVStore;
import org.h2.mvstore.MVStoreException;
import sun.misc.Signal;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Runs mongo-java-server as a child process of the Node app or the test suite.
 *
 * <p>Usage: {@code java -jar embedded-store.jar (--memory | --file PATH) [--port N] [--min-free-mb N] [--foreground]}.
 * Prints one line {@code LISTENING <port>} once it accepts connections. It exits when its standard
 * input closes, so the store never outlives the process that started it, even after a crash, and
 * it ignores SIGTERM and SIGINT sent to the whole process group: the parent stops it last, after
 * draining its own requests. With {@code --foreground} (a store started by hand) it runs until it
 * is sent SIGINT or SIGTERM.
 *
 * <p>Exit codes: 0 stopped, 2 bad arguments, 3 the data file cannot be written (nothing is
 * served), 4 the disk is full, 5 the data file failed otherwise. On 4 and 5 the last line on
 * standard error starts with {@code STORE_FAILED}; a supervisor restarts the store on the same
 * file, which recovers the last durable commit.
 */
public final class EmbeddedStore {

  static final int EXIT_UNWRITABLE = 3;
  static final int EXIT_DISK_FULL = 4;
  static final int EXIT_STORE_FAILED = 5;

  /**
   * The Node driver 7 refuses servers below wire version 9 (MongoDB 4.4), and mongo-java-server's
   * newest built-in version answers 8. It implements what the app uses (CRUD, findAndModify,
   * aggregation, createIndexes), so it advertises 4.4, the oldest version the driver accepts,
   * which keeps the driver from assuming any newer server feature.
   */
  private static final MongoVersion ADVERTISED_VERSION = new MongoVersion() {
    @Override
    public List<Integer> getVersionArray() {
      return List.of(4, 4, 0);
    }

    @Override
    public int getWireVersion() {
      return 9;
    }
  };

  private EmbeddedStore() {}

  public static void main(String[] args) throws IOException {
    String file = null;
    boolean memory = false;
    int port = 0;
    long minFreeMb = 64;
    boolean foreground = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--memory" -> memory = true;
        case "--file" -> file = args[++i];
        case "--port" -> port = Integer.parseInt(args[++i]);
        case "--min-free-mb" -> minFreeMb = Long.parseLong(args[++i]);
        case "--foreground" -> foreground = true;
        default -> fail(2, "unknown argument " + args[i]);
      }
    }
    if (memory == (file != null)) {
      fail(2, "give exactly one of --memory or --file PATH");
    }
    if (!foreground) {
      // The parent drains its requests first and then closes our standard input.
      Signal.handle(new Signal("TERM"), signal -> {});
      Signal.handle(new Signal("INT"), signal -> {});
    }

    MongoBackend backend = memory ? new IndexedBackends.Memory() : openDurable(Path.of(file).toAbsolutePath(), minFreeMb << 20);
    backend.version(ADVERTISED_VERSION);

    MongoServer server = new MongoServer(backend);
    // Writers wait for the group commit on their connection's event-loop thread: enough threads
    // that concurrent writers share a commit instead of queueing behind one another.
    server.bind(new InetSocketAddress("127.0.0.1", port), 1, 32);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.shutdownNow();
      backend.close();
    }, "embedded-store-shutdown"));

    System.out.println("LISTENING " + server.getLocalAddress().getPort());
    System.out.flush();

    if (foreground) {
      return;
    }
    InputStream in = System.in;
    while (in.read() != -1) {
      // Input carries no commands; reading only detects the parent going away.
    }
    System.exit(0);
  }

  private static DurableH2Backend openDurable(Path path, long minFreeBytes) throws IOException {
    Path directory = path.getParent();
    try {
      Files.createDirectories(directory);
    } catch (IOException e) {
      fail(EXIT_UNWRITABLE, "cannot create the data directory " + directory + ": " + e + unwritableHint(directory));
    }
    if (!Files.isWritable(directory) || (Files.exists(path) && !Files.isWritable(path))) {
      fail(EXIT_UNWRITABLE, (Files.exists(path) ? "the data file " + path : "the data directory " + directory)
          + " is not writable by this user" + unwritableHint(directory));
    }
    MVStore store;
    try {
      // No background commits: the backend commits and syncs before answering each write.
      store = new MVStore.Builder()
          .fileName(path.toString())
          .autoCommitDisabled()
          .autoCommitBufferSize(0)
          .cacheSize(pageCacheMb())
          .open();
    } catch (MVStoreException e) {
      int code = DurableH2Backend.isDiskFull(e) ? EXIT_DISK_FULL : EXIT_UNWRITABLE;
      fail(code, "cannot open the data file " + path + ": " + e.getMessage() + (code == EXIT_DISK_FULL ? "" : unwritableHint(directory)));
      return null;
    }
    if (store.isReadOnly()) {
      store.closeImmediately();
      fail(EXIT_UNWRITABLE, "the data file " + path + " opened read-only" + unwritableHint(directory));
    }
    try {
      return new DurableH2Backend(store, directory.toFile(), minFreeBytes, EmbeddedStore::failed);
    } catch (GroupCommitter.CommitFailedException e) {
      // Opening may write metadata; a disk that cannot take it is reported like any failed commit.
      fail(DurableH2Backend.isDiskFull(e) ? EXIT_DISK_FULL : EXIT_STORE_FAILED, "cannot commit the data file " + path + ": " + e.getMessage());
      return null;
    }
  }

  /**
   * H2's page cache holds decoded pages of the data file; its default (16 MB) is far below a chat
   * history's working set, and every miss decodes a page again. A quarter of the heap, at most
   * 256 MB, counted in decoded documents (IndexedBackends.DecodedDocumentType).
   */
  private static int pageCacheMb() {
    long quarterOfHeapMb = Runtime.getRuntime().maxMemory() / 4 >> 20;
    return (int) Math.max(16, Math.min(256, quarterOfHeapMb));
  }

  private static String unwritableHint(Path directory) {
    return ". Writes would be acknowledged and then lost, so the store does not start. Fix: make " + directory
        + " and its files writable by this user (e.g. chown -R " + System.getProperty("user.name") + " " + directory
        + "), or set DATA_DIR to a writable directory.";
  }

  /** The data file failed under a write: report, let the error answers go out, and exit for a restart. */
  private static void failed(Throwable error) {
    boolean diskFull = DurableH2Backend.isDiskFull(error);
    synchronized (EmbeddedStore.class) {
      System.err.println("STORE_FAILED " + (diskFull ? "disk-full" : "write-error") + " " + error);
      System.err.flush();
    }
    Thread exit = new Thread(() -> {
      try {
        Thread.sleep(200);
      } catch (InterruptedException ignored) {
        // exiting anyway
      }
      Runtime.getRuntime().halt(diskFull ? EXIT_DISK_FULL : EXIT_STORE_FAILED);
    }, "embedded-store-exit");
    exit.setDaemon(false);
    exit.start();
  }

  private static void fail(int code, String message) {
    System.err.println("embedded-store: " + message);
    System.exit(code);
  }

}
