package wms.chat.store;

import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.backend.memory.MemoryDatabase;

import java.util.List;

/** The store's memory backend, with {@link SecondaryIndex} for every non-unique index (see {@link DurableH2Backend} for files). */
final class IndexedBackends {

  private IndexedBackends() {}

  static final class Memory extends MemoryBackend {
    @Override
    public MemoryDatabase openOrCreateDatabase(String databaseName) {
      return new MemoryDatabase(databaseName, getCursorRegistry()) {
        @Override
        protected Index<Integer> openOrCreateSecondaryIndex(String collectionName, String indexName, List<IndexKey> keys, boolean sparse) {
          return new SecondaryIndex<>(indexName, keys);
        }
      };
    }
  }

  /** Secondary indexes live in memory and are rebuilt from the stored documents when a database opens. */
  static H2Database indexedH2Database(DurableH2Backend backend, String databaseName) {
    return new H2Database(databaseName, backend.getMvStore(), backend.cursors()) {
      @Override
      protected Index<Object> openOrCreateSecondaryIndex(String collectionName, String indexName, List<IndexKey> keys, boolean sparse) {
        return new SecondaryIndex<>(indexName, keys);
      }
    };
  }
}
