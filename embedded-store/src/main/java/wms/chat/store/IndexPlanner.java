package wms.chat.store;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.Missing;
import de.bwaldvogel.mongo.bson.BsonRegularExpression;
import de.bwaldvogel.mongo.bson.Document;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.function.Supplier;
import java.util.regex.Pattern;

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

  /** The leading $match of the aggregation this thread is running, for the collection it reads (see {@link #leadingMatchOf}). */
  private static final ThreadLocal<PendingMatch> LEADING_MATCH = new ThreadLocal<>();
  /** Operators a query cannot serve as it serves a $match stage; a $match holding one is left to the stage. */
  private static final List<String> STAGE_ONLY = List.of("$expr", "$text", "$where", "$jsonSchema");

  private record PendingMatch(String collection, Document match) {}

  /**
   * The store's own commands and what it adds to mongo-java-server's: {@link #PLAN_COMMAND}, and
   * an aggregation whose first stage is a $match hands that match to the collection it reads
   * (mongo-java-server starts every aggregation from the whole collection), which serves it from
   * an index through {@link #leadingMatchOf}. The $match stage still runs on what it gets.
   */
  static Document handleCommand(MongoDatabase database, String command, Document query, Supplier<Document> mongoJavaServer) {
    if (PLAN_COMMAND.equalsIgnoreCase(command)) {
      return plan(database, command, query);
    }
    Document match = "aggregate".equalsIgnoreCase(command) ? leadingMatch(query) : null;
    if (match == null) {
      return mongoJavaServer.get();
    }
    LEADING_MATCH.set(new PendingMatch(database.getDatabaseName() + "." + query.get(command), match));
    try {
      return mongoJavaServer.get();
    } finally {
      LEADING_MATCH.remove();
    }
  }

  /** The leading $match of the aggregation this thread runs on `fullName`, once (a $lookup or $facet reading it again starts from everything). */
  static Document leadingMatchOf(String fullName) {
    PendingMatch pending = LEADING_MATCH.get();
    if (pending == null || !pending.collection().equals(fullName)) {
      return null;
    }
    LEADING_MATCH.remove();
    return pending.match();
  }

  private static Document leadingMatch(Document command) {
    if (!(command.get("pipeline") instanceof List<?> pipeline) || pipeline.isEmpty()) {
      return null;
    }
    if (!(pipeline.get(0) instanceof Document first) || first.size() != 1 || !(first.get("$match") instanceof Document match)) {
      return null;
    }
    return STAGE_ONLY.stream().anyMatch(match::containsKey) ? null : match;
  }

  /** An index and the part of the query it is asked for. */
  record Plan<P>(Index<P> index, Document probe) {
    Iterable<P> positions() {
      return index.getPositions(probe);
    }
  }

  /** How to serve `query`, or null for a collection scan. */
  static <P> Plan<P> choose(List<Index<P>> indexes, Document query) {
    List<SecondaryIndex<P>> secondary = new ArrayList<>();
    for (Index<P> index : indexes) {
      if (index instanceof SecondaryIndex<P> candidate) {
        if (candidate.canHandle(query)) {
          secondary.add(candidate);
        }
        continue;
      }
      Document probe = probeFor(index, query);
      if (probe != null && index.canHandle(probe)) {
        return new Plan<>(index, probe);
      }
    }
    // Values first: a date range is counted by walking it, which the best count so far cuts short.
    secondary.sort(Comparator.comparing((SecondaryIndex<P> index) -> index.servesByDateRange(query)));
    SecondaryIndex<P> best = null;
    long fewest = Long.MAX_VALUE;
    for (SecondaryIndex<P> index : secondary) {
      long candidates = index.candidates(query, fewest);
      if (candidates < fewest) {
        best = index;
        fewest = candidates;
      }
    }
    return best == null ? null : new Plan<>(best, query);
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

  /** Under the collection's lock, as its own queries plan (its index list changes with createIndexes). */
  private static <P> Plan<P> choose(MongoCollection<P> collection, Document query) {
    synchronized (collection) {
      return choose(collection.getIndexes(), query);
    }
  }

  /**
   * What a unique index is asked for: the whole query when it names exactly the index's fields (as
   * mongo-java-server itself does), else the query's conditions on those fields when each is a
   * plain value or an $in of plain values (lookups the unique index answers as a scan would), else
   * null.
   */
  private static Document probeFor(Index<?> index, Document query) {
    List<String> fields = index.getKeys().stream().map(IndexKey::getKey).toList();
    if (query.keySet().equals(new HashSet<>(fields))) {
      return query;
    }
    Document probe = new Document();
    for (String field : fields) {
      Object condition = query.get(field);
      boolean plain = isPlain(condition)
          || (condition instanceof Document operators && operators.size() == 1 && operators.get("$in") instanceof Collection<?> values
              && !values.isEmpty() && values.stream().allMatch(IndexPlanner::isPlain));
      if (!plain) {
        return null;
      }
      probe.put(field, condition);
    }
    return probe;
  }

  /** A value a unique key lookup finds exactly: not null or missing, not a document, an array or a pattern. */
  private static boolean isPlain(Object value) {
    return value != null && !(value instanceof Document) && !(value instanceof Collection<?>) && !(value instanceof Pattern)
        && !(value instanceof BsonRegularExpression) && !(value instanceof Missing);
  }
}
