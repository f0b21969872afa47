package wms.chat.store;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.backend.EmptyIndex;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.KeyValue;
import de.bwaldvogel.mongo.bson.Document;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * A non-unique index for mongo-java-server, which otherwise keeps no secondary indexes and scans
 * the whole collection for every query that is not an exact unique-key lookup.
 *
 * <p>It hashes documents by the value of the index's leading field (each element, for arrays)
 * and serves any query that asks for that field by equality or {@code $in}. It returns
 * candidates: the collection still applies the full query, sort and limit to them, so an index
 * answer is never wrong, only smaller than a scan. Range conditions on later fields are left to
 * that filter, which is cheap once the leading field has narrowed the candidates (one
 * conversation's messages, one user's conversations).
 *
 * <p>A top-level leading field holding dates is also kept in date order, so a range on it
 * ({@code $gt}, {@code $gte}, {@code $lt}, {@code $lte} with date bounds: a day's messages for the
 * analytics rollups) is served from that order. A date range matches dates only, so no document
 * whose field holds anything else can be missed.
 */
final class SecondaryIndex<P> extends Index<P> {

  private static final Set<String> RANGE_OPERATORS = Set.of("$gt", "$gte", "$lt", "$lte");

  private final String leadingField;
  /** Computes normalized key values of the leading field exactly as the store's own indexes do. */
  private final Index<P> leadingKeyIndex;
  /** Each value's position, or its {@link Many} positions: most values of a timestamp index are held by one document. */
  private final Map<KeyValue, Object> positionsByValue = new ConcurrentHashMap<>();
  private final Map<Object, P> positionById = new ConcurrentHashMap<>();
  /** Positions by the dates the leading field holds (itself or as array elements); top-level fields only. */
  private final NavigableMap<Instant, Object> positionsByDate = new ConcurrentSkipListMap<>();
  private final boolean datesIndexed;

  SecondaryIndex(String name, List<IndexKey> keys) {
    super(name, keys, false);
    this.leadingField = keys.get(0).getKey();
    this.leadingKeyIndex = new EmptyIndex<>(name, List.of(keys.get(0)));
    this.datesIndexed = !leadingField.contains(".");
  }

  @Override
  public P getPosition(Document document) {
    Object id = document.get("_id");
    return id == null ? null : positionById.get(id);
  }

  @Override
  public void checkAdd(Document document, MongoCollection<P> collection) {
    // Not unique: nothing can conflict.
  }

  @Override
  public void add(Document document, P position, MongoCollection<P> collection) {
    Object id = document.get("_id");
    if (id == null) {
      return;
    }
    positionById.put(id, position);
    for (KeyValue value : leadingValues(document)) {
      addPosition(positionsByValue, value, position);
    }
    for (Instant date : dates(document)) {
      addPosition(positionsByDate, date, position);
    }
  }

  @Override
  public P remove(Document document) {
    Object id = document.get("_id");
    P position = id == null ? null : positionById.remove(id);
    if (position != null) {
      for (KeyValue value : leadingValues(document)) {
        removePosition(positionsByValue, value, position);
      }
      for (Instant date : dates(document)) {
        removePosition(positionsByDate, date, position);
      }
    }
    return position;
  }

  @Override
  public boolean canHandle(Document query) {
    if (!query.containsKey(leadingField)) {
      return false;
    }
    Object condition = query.get(leadingField);
    if (!(condition instanceof Document operators)) {
      return isHashable(condition);
    }
    if (isDateRange(operators)) {
      return true;
    }
    if (operators.size() != 1) {
      return false;
    }
    Object operand = operators.values().iterator().next();
    if (operators.containsKey("$in")) {
      return operand instanceof Collection<?> values && values.stream().allMatch(SecondaryIndex::isHashable);
    }
    return operators.containsKey("$eq") && isHashable(operand);
  }

  /** Whether this index would serve `query` from its date order (counting those candidates walks the range). */
  boolean servesByDateRange(Document query) {
    return query.get(leadingField) instanceof Document operators && isDateRange(operators);
  }

  /**
   * How many documents {@link #getPositions} would return for a query this index can serve
   * (counted without collecting them), for {@link IndexPlanner}; counting stops once past `cap`.
   */
  long candidates(Document query, long cap) {
    Object condition = query.get(leadingField);
    long count = 0;
    if (condition instanceof Document operators && isDateRange(operators)) {
      for (Object held : dateRange(operators).values()) {
        count += positionsOf(held).size();
        if (count > cap) {
          break;
        }
      }
      return count;
    }
    Object wanted = condition instanceof Document operators ? operators.values().iterator().next() : condition;
    for (KeyValue value : leadingKeyIndex.getKeyValues(probe(wanted))) {
      count += positionsOf(positionsByValue.get(value)).size();
    }
    return count;
  }

  @Override
  public Iterable<P> getPositions(Document query) {
    Object condition = query.get(leadingField);
    if (condition instanceof Document operators && isDateRange(operators)) {
      return inDateRange(operators);
    }
    Object wanted = condition instanceof Document operators ? operators.values().iterator().next() : condition;
    Set<P> result = new LinkedHashSet<>();
    for (KeyValue value : leadingKeyIndex.getKeyValues(probe(wanted))) {
      result.addAll(positionsOf(positionsByValue.get(value)));
    }
    return new ArrayList<>(result);
  }

  /** Only $gt, $gte, $lt and $lte, each with a date, on a field whose dates are kept in order. */
  private boolean isDateRange(Document operators) {
    if (!datesIndexed || operators.isEmpty()) {
      return false;
    }
    for (Map.Entry<String, Object> operator : operators.entrySet()) {
      if (!RANGE_OPERATORS.contains(operator.getKey()) || !(operator.getValue() instanceof Instant)) {
        return false;
      }
    }
    return true;
  }

  private List<P> inDateRange(Document operators) {
    Set<P> result = new LinkedHashSet<>();
    for (Object held : dateRange(operators).values()) {
      result.addAll(positionsOf(held));
    }
    return new ArrayList<>(result);
  }

  /**
   * The dates within the bounds: the tightest lower and upper bound when a side is given twice
   * ({@code $gt} and {@code $gte}), none when the bounds cross (a scan matches nothing either).
   */
  private NavigableMap<Instant, Object> dateRange(Document operators) {
    Instant lower = null;
    boolean lowerInclusive = true;
    Instant upper = null;
    boolean upperInclusive = true;
    for (Map.Entry<String, Object> operator : operators.entrySet()) {
      Instant bound = (Instant) operator.getValue();
      switch (operator.getKey()) {
        case "$gt" -> {
          if (lower == null || bound.compareTo(lower) >= 0) {
            lower = bound;
            lowerInclusive = false;
          }
        }
        case "$gte" -> {
          if (lower == null || bound.compareTo(lower) > 0) {
            lower = bound;
            lowerInclusive = true;
          }
        }
        case "$lt" -> {
          if (upper == null || bound.compareTo(upper) <= 0) {
            upper = bound;
            upperInclusive = false;
          }
        }
        default -> {
          if (upper == null || bound.compareTo(upper) < 0) {
            upper = bound;
            upperInclusive = true;
          }
        }
      }
    }
    if (lower != null && upper != null) {
      int order = lower.compareTo(upper);
      if (order > 0 || (order == 0 && !(lowerInclusive && upperInclusive))) {
        return Collections.emptyNavigableMap();
      }
      return positionsByDate.subMap(lower, lowerInclusive, upper, upperInclusive);
    }
    if (lower != null) {
      return positionsByDate.tailMap(lower, lowerInclusive);
    }
    return upper != null ? positionsByDate.headMap(upper, upperInclusive) : positionsByDate;
  }

  /** The dates the leading field holds: the value itself, or the dates among an array's elements. */
  private Set<Instant> dates(Document document) {
    if (!datesIndexed) {
      return Set.of();
    }
    Object value = document.get(leadingField);
    if (value instanceof Instant date) {
      return Set.of(date);
    }
    if (value instanceof Collection<?> elements) {
      Set<Instant> dates = new LinkedHashSet<>();
      for (Object element : elements) {
        if (element instanceof Instant date) {
          dates.add(date);
        }
      }
      return dates;
    }
    return Set.of();
  }


  /**
   * A document holding `wanted` at the leading field's path, nested for a dotted name as stored
   * documents hold it: key extraction reads dotted names as paths, so a flat `{"a.b": v}` probe
   * would yield the key of a missing field and the lookup would find nothing.
   */
  private Document probe(Object wanted) {
    String[] parts = leadingField.split("\\.");
    Document probe = new Document(parts[parts.length - 1], wanted);
    for (int index = parts.length - 2; index >= 0; index -= 1) {
      probe = new Document(parts[index], probe);
    }
    return probe;
  }

  @Override
  public long getCount() {
    return positionById.size();
  }

  @Override
  public long getDataSize() {
    return getCount();
  }

  @Override
  public void checkUpdate(Document oldDocument, Document newDocument, MongoCollection<P> collection) {
    // Not unique: nothing can conflict.
  }

  @Override
  public void updateInPlace(Document oldDocument, Document newDocument, P position, MongoCollection<P> collection) {
    Set<Instant> datesBefore = dates(oldDocument);
    Set<Instant> datesAfter = dates(newDocument);
    if (!datesBefore.equals(datesAfter)) {
      for (Instant date : datesBefore) {
        removePosition(positionsByDate, date, position);
      }
      for (Instant date : datesAfter) {
        addPosition(positionsByDate, date, position);
      }
    }
    Set<KeyValue> before = leadingValues(oldDocument);
    Set<KeyValue> after = leadingValues(newDocument);
    if (before.equals(after)) {
      return;
    }
    for (KeyValue value : before) {
      removePosition(positionsByValue, value, position);
    }
    for (KeyValue value : after) {
      addPosition(positionsByValue, value, position);
    }
  }

  @Override
  public void drop() {
    positionsByValue.clear();
    positionsByDate.clear();
    positionById.clear();
  }

  private Set<KeyValue> leadingValues(Document document) {
    return leadingKeyIndex.getKeyValues(document);
  }

  /** Several positions under one key (a key with one position holds the position itself: no set per unique value). */
  private static final class Many<P> {
    final Set<P> positions = ConcurrentHashMap.newKeySet();
  }

  private static <K, P> void addPosition(Map<K, Object> map, K key, P position) {
    map.compute(key, (ignored, held) -> {
      if (held == null) {
        return position;
      }
      if (held instanceof Many<?>) {
        manyOf(held).positions.add(position);
        return held;
      }
      if (held.equals(position)) {
        return held;
      }
      Many<P> many = new Many<>();
      P first = single(held);
      many.positions.add(first);
      many.positions.add(position);
      return many;
    });
  }

  private static <K, P> void removePosition(Map<K, Object> map, K key, P position) {
    map.computeIfPresent(key, (ignored, held) -> {
      if (!(held instanceof Many<?>)) {
        return held.equals(position) ? null : held;
      }
      Set<P> positions = SecondaryIndex.<P>manyOf(held).positions;
      positions.remove(position);
      if (positions.size() == 1) {
        return positions.iterator().next();
      }
      return positions.isEmpty() ? null : held;
    });
  }

  /** The positions a key holds: none, its one position, or its {@link Many}. */
  private Collection<P> positionsOf(Object held) {
    if (held == null) {
      return List.of();
    }
    if (held instanceof Many<?>) {
      return SecondaryIndex.<P>manyOf(held).positions;
    }
    P position = single(held);
    return Collections.singletonList(position);
  }

  @SuppressWarnings("unchecked")
  private static <P> Many<P> manyOf(Object held) {
    return (Many<P>) held;
  }

  @SuppressWarnings("unchecked")
  private static <P> P single(Object held) {
    return (P) held;
  }

  /**
   * Plain scalar values only. Documents, arrays (whose equality is whole-array, and whose empty
   * form has no key at all) and regular expressions go to a scan.
   */
  private static boolean isHashable(Object value) {
    return !(value instanceof Document) && !(value instanceof Collection) && !(value instanceof java.util.regex.Pattern)
        && !(value instanceof de.bwaldvogel.mongo.bson.BsonRegularExpression);
  }
}
