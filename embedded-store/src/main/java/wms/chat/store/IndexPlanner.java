package wms.chat.store;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.bson.Document;

import java.util.List;

/**
 * Picks the index a query is served from. mongo-java-server takes the first index (in creation
 * order) that can serve the whole query, so a query naming both a rare value and a date range
 * could be served by the range over every document in it (a dashboard asking for one scope's
 * rollups of a month read every scope's), and a unique key with one more condition
 * ({@code {_id: {$in: ids}, type: "user"}}) was served by none: a scan. Here a unique index whose
 * fields the query names comes first (an exact lookup on those fields, the rest of the query
 * filtering what it finds), and among the secondary indexes the one with the fewest candidates
 * wins. The collection applies the whole query to the candidates, so the choice changes only
 * how many documents are read, never the answer.
 */
final class IndexPlanner {

  /** {@code {wmsIndexPlan: "<collection>", filter: {...}}} answers the name of the index that would serve the filter. */
  static final String PLAN_COMMAND = "wmsIndexPlan";

  private IndexPlanner() {}

  /** An index and the part of the query it is asked for. */
  record Plan<P>(Index<P> index, Document probe) {
    Iterable<P> positions() {
      return index.getPositions(probe);
    }
  }

  /** How to serve `query`, or null for a collection scan. */
  static <P> Plan<P> choose(List<Index<P>> indexes, Document query) {
    Plan<P> best = null;
    long fewest = Long.MAX_VALUE;
    for (Index<P> index : indexes) {
      if (index instanceof SecondaryIndex<P> secondary) {
        if (!secondary.canHandle(query)) {
          continue;
        }
        long candidates = secondary.candidates(query);
        if (candidates < fewest) {
          best = new Plan<>(index, query);
          fewest = candidates;
        }
        continue;
      }
      Document probe = onFieldsOf(index, query);
      if (probe != null && index.canHandle(probe)) {
        return new Plan<>(index, probe);
      }
    }
    return best;
  }

  /** The answer to {@link #PLAN_COMMAND}: {@code index} is null for a collection scan. */
  static Document plan(MongoDatabase database, String command, Document query) {
    MongoCollection<?> collection = database.resolveCollection(String.valueOf(query.get(command)), false);
    Document filter = query.get("filter") instanceof Document given ? given : new Document();
    Plan<?> plan = collection == null ? null : choose(collection, filter);
    Document response = new Document();
    response.put("index", plan == null ? null : plan.index().getName());
    response.put("ok", 1.0);
    return response;
  }

  private static <P> Plan<P> choose(MongoCollection<P> collection, Document query) {
    return choose(collection.getIndexes(), query);
  }

  /** The query's conditions on the index's fields, or null when it leaves one of them out. */
  private static Document onFieldsOf(Index<?> index, Document query) {
    Document probe = new Document();
    for (IndexKey key : index.getKeys()) {
      if (!query.containsKey(key.getKey())) {
        return null;
      }
      probe.put(key.getKey(), query.get(key.getKey()));
    }
    return probe;
  }
}
