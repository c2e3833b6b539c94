package org.smack.pipelines.iot.stream;

import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.spark.sql.Row;

/**
 * The three Cassandra tables in memory, keyed like their primary keys so that a write is an
 * upsert, and a refresher that recomputes route_minute from positions_by_route_minute as the
 * job's CQL does (count of rows, mean speed).
 */
final class MemoryTables {

  /** A route_minute row's values. */
  record Aggregate(long events, double avgSpeedKmh) {}

  final Map<String, Row> positions = new ConcurrentHashMap<>();
  /** (route, minute) partition to its rows, event_id to speed_kmh. */
  final Map<RouteMinute, Map<String, Double>> byRouteMinute = new ConcurrentHashMap<>();
  final Map<RouteMinute, Aggregate> routeMinute = new ConcurrentHashMap<>();
  final AtomicReference<List<String>> byRouteMinuteColumns = new AtomicReference<>();
  final List<RouteMinute> refreshed = new ArrayList<>();

  StreamJob.Sinks sinks() {
    return new StreamJob.Sinks(
        batch -> batch.collectAsList().forEach(r -> positions.put(r.getAs("event_id"), r)),
        batch -> {
          byRouteMinuteColumns.set(List.of(batch.columns()));
          for (Row r : batch.collectAsList()) {
            RouteMinute key = new RouteMinute(r.getAs("route_id"), ((Timestamp) r.getAs("minute")).toInstant());
            byRouteMinute.computeIfAbsent(key, k -> new ConcurrentHashMap<>())
                .put(r.getAs("event_id"), r.getAs("speed_kmh"));
          }
        },
        keys -> {
          for (RouteMinute key : keys) {
            // Sorted, so the mean does not depend on the map's order.
            Map<String, Double> rows = new TreeMap<>(byRouteMinute.getOrDefault(key, Map.of()));
            if (!rows.isEmpty()) {
              double sum = 0;
              for (double speed : rows.values()) {
                sum += speed;
              }
              routeMinute.put(key, new Aggregate(rows.size(), sum / rows.size()));
            }
            synchronized (refreshed) {
              refreshed.add(key);
            }
          }
        });
  }

  /** route_minute as a sorted copy, for comparing states. */
  Map<String, Aggregate> snapshot() {
    Map<String, Aggregate> copy = new TreeMap<>();
    routeMinute.forEach((k, v) -> copy.put(k.routeId() + "@" + k.minute(), v));
    return copy;
  }
}
