package wms.chat.store;

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Runs mongo-java-server as a child process of the Node app or the test suite.
 *
 * <p>Usage: {@code java -jar embedded-store.jar (--memory | --file PATH) [--port N] [--foreground]}.
 * Prints one line {@code LISTENING <port>} once it accepts connections. It exits when its standard
 * input closes, so the store never outlives the process that started it, even after a crash; with
 * {@code --foreground} (a store started by hand) it runs until it is sent SIGINT or SIGTERM.
 */
public final class EmbeddedStore {

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
    boolean foreground = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--memory" -> memory = true;
        case "--file" -> file = args[++i];
        case "--port" -> port = Integer.parseInt(args[++i]);
        case "--foreground" -> foreground = true;
        default -> fail("unknown argument " + args[i]);
      }
    }
    if (memory == (file != null)) {
      fail("give exactly one of --memory or --file PATH");
    }

    MongoBackend backend;
    if (memory) {
      backend = new IndexedBackends.Memory();
    } else {
      Path path = Path.of(file).toAbsolutePath();
      Files.createDirectories(path.getParent());
      backend = new IndexedBackends.H2(path.toString());
    }

    backend.version(ADVERTISED_VERSION);

    MongoServer server = new MongoServer(backend);
    server.bind(new InetSocketAddress("127.0.0.1", port));
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

  private static void fail(String message) {
    System.err.println("embedded-store: " + message);
    System.exit(2);
  }
}
