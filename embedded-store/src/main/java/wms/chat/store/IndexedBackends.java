package wms.chat.store;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.DatabaseResolver;
import de.bwaldvogel.mongo.backend.DocumentWithPosition;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.h2.H2Collection;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.backend.memory.MemoryCollection;
import de.bwaldvogel.mongo.backend.memory.MemoryDatabase;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.oplog.Oplog;
import io.netty.channel.Channel;
import org.h2.mvstore.MVMap;
import org.h2.mvstore.type.ObjectDataType;
import org.h2.mvstore.MVStore;

import java.util.List;
import java.util.Objects;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * The store's memory and file backends, with {@link SecondaryIndex} for every non-unique index and
 * collections that serve each query from the index {@link IndexPlanner} picks.
 */
final class IndexedBackends {

  /** mongo-java-server's names for a collection's documents and metadata in the data file (kept as they are). */
  private static final String DATA_MAP_PREFIX = "databases.";
  private static final String META_MAP_PREFIX = "meta.";

  private IndexedBackends() {}

  static final class Memory extends MemoryBackend {
    @Override
    public MemoryDatabase openOrCreateDatabase(String databaseName) {
      return new MemoryDatabase(databaseName, getCursorRegistry()) {
        @Override
        public Document handleCommand(Channel channel, String command, Document query, DatabaseResolver resolver, Oplog oplog) {
          return IndexPlanner.handleCommand(this, command, query, () -> super.handleCommand(channel, command, query, resolver, oplog));
        }

        @Override
        protected MemoryCollection openOrCreateCollection(String collectionName, CollectionOptions options) {
          return new PlannedMemoryCollection(this, collectionName, options, cursorRegistry);
        }

        @Override
        protected Index<Integer> openOrCreateSecondaryIndex(String collectionName, String indexName, List<IndexKey> keys, boolean sparse) {
          return new SecondaryIndex<>(indexName, keys);
        }
      };
    }
  }

  /** Secondary indexes live in memory and are rebuilt from the stored documents when a database opens. */
  static H2Database indexedH2Database(DurableH2Backend backend, String databaseName) {
    MVStore store = backend.getMvStore();
    return new H2Database(databaseName, store, backend.cursors()) {
      @Override
      public Document handleCommand(Channel channel, String command, Document query, DatabaseResolver resolver, Oplog oplog) {
        return IndexPlanner.handleCommand(this, command, query, () -> super.handleCommand(channel, command, query, resolver, oplog));
      }

      @Override
      protected MongoCollection<Object> openOrCreateCollection(String collectionName, CollectionOptions options) {
        String fullName = getFullCollectionNamespace(collectionName);
        MVMap<Object, Document> dataMap = store.openMap(DATA_MAP_PREFIX + fullName,
            new MVMap.Builder<Object, Document>().valueType(new DecodedDocumentType()));
        MVMap<String, Object> metaMap = store.openMap(META_MAP_PREFIX + fullName);
        return new PlannedH2Collection(this, collectionName, options, dataMap, metaMap, cursorRegistry);
      }

      @Override
      protected Index<Object> openOrCreateSecondaryIndex(String collectionName, String indexName, List<IndexKey> keys, boolean sparse) {
        return new SecondaryIndex<>(indexName, keys);
      }
    };
  }

  /**
   * The documents' value type: stored exactly as H2's default type stores them (Java
   * serialization), but sized for the page cache as decoded documents are. H2 counts a stored
   * document at its serialized size, a fraction of its decoded size (a heap histogram at a million
   * messages: a cache of 64 MB by H2's count held 80,000 pages and every decoded message, over 3 GB).
   */
  static final class DecodedDocumentType extends ObjectDataType {
    /** A decoded chat message with its nested documents (a map per document, a string per value) is a few kilobytes. */
    private static final int DECODED_DOCUMENT_BYTES = 4096;

    @Override
    public int getMemory(Object value) {
      int stored = super.getMemory(value);
      return value instanceof Document ? Math.max(DECODED_DOCUMENT_BYTES, 4 * stored) : stored;
    }
  }

  private static final class PlannedMemoryCollection extends MemoryCollection {
    PlannedMemoryCollection(MongoDatabase database, String name, CollectionOptions options, CursorRegistry cursors) {
      super(database, name, options, cursors);
    }

    /** An aggregation's start: the documents its leading $match selects, through the planner, when it has one. */
    @Override
    public Stream<Document> queryAllAsStream() {
      Document match = IndexPlanner.leadingMatchOf(getFullName());
      return match == null ? super.queryAllAsStream() : handleQueryAsStream(match);
    }

    @Override
    protected QueryResult queryDocuments(Document query, Document orderBy, int skip, int limit, int batchSize, Document fields) {
      IndexPlanner.Plan<Integer> plan = IndexPlanner.choose(getIndexes(), query);
      return plan == null
          ? matchDocuments(query, orderBy, skip, limit, batchSize, fields)
          : matchDocuments(query, plan.positions(), orderBy, skip, limit, batchSize, fields);
    }
  }

  private static final class PlannedH2Collection extends H2Collection {
    PlannedH2Collection(MongoDatabase database, String name, CollectionOptions options, MVMap<Object, Document> dataMap,
                        MVMap<String, Object> metaMap, CursorRegistry cursors) {
      super(database, name, options, dataMap, metaMap, cursors);
    }

    /**
     * Where an aggregation (and so countDocuments) starts: the candidates of the index that serves
     * its leading $match, or else every document, read one at a time from the data file's map (a
     * consistent snapshot of it) as the pipeline asks for them, instead of collected into one list
     * first, which at a million messages filled the Java heap.
     */
    @Override
    public Stream<Document> queryAllAsStream() {
      Document match = IndexPlanner.leadingMatchOf(getFullName());
      IndexPlanner.Plan<Object> plan;
      synchronized (this) {
        plan = match == null ? null : IndexPlanner.choose(getIndexes(), match);
      }
      if (plan == null) {
        return streamAllDocumentsWithPosition().map(DocumentWithPosition::getDocument);
      }
      // The index's candidates, read one at a time (one deleted meanwhile is skipped); the $match stage filters them.
      return StreamSupport.stream(plan.positions().spliterator(), false).map(this::getDocument).filter(Objects::nonNull);
    }

    @Override
    protected QueryResult queryDocuments(Document query, Document orderBy, int skip, int limit, int batchSize, Document fields) {
      IndexPlanner.Plan<Object> plan = IndexPlanner.choose(getIndexes(), query);
      return plan == null
          ? matchDocuments(query, orderBy, skip, limit, batchSize, fields)
          : matchDocuments(query, plan.positions(), orderBy, skip, limit, batchSize, fields);
    }
  }
}
