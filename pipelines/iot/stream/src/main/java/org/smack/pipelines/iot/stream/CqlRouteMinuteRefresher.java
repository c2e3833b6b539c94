package org.smack.pipelines.iot.stream;

import com.datastax.oss.driver.api.core.ConsistencyLevel;
import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.DefaultConsistencyLevel;
import com.datastax.oss.driver.api.core.cql.AsyncResultSet;
import com.datastax.oss.driver.api.core.cql.PreparedStatement;
import com.datastax.oss.driver.api.core.cql.Row;
import com.datastax.spark.connector.cql.CassandraConnector;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import org.apache.spark.SparkConf;

/**
 * The job's {@link RouteMinuteRefresher}: on the driver, through the Spark Cassandra Connector's
 * session, per (route, minute) a count and mean over its positions_by_route_minute partition,
 * then an upsert of that value into route_minute. Up to {@link #IN_FLIGHT} keys at a time.
 */
public final class CqlRouteMinuteRefresher implements RouteMinuteRefresher, AutoCloseable {

  public static final String INPUT_CONSISTENCY = "spark.cassandra.input.consistency.level";
  public static final String OUTPUT_CONSISTENCY = "spark.cassandra.output.consistency.level";
  public static final String DEFAULT_CONSISTENCY = "QUORUM";
  static final int IN_FLIGHT = 16;

  static String selectCql(String keyspace) {
    return "SELECT count(*), avg(speed_kmh) FROM " + keyspace
        + ".positions_by_route_minute WHERE route_id = ? AND minute = ?";
  }

  static String insertCql(String keyspace) {
    return "INSERT INTO " + keyspace
        + ".route_minute (route_id, minute, events, avg_speed_kmh) VALUES (?, ?, ?, ?)";
  }

  private final CqlSession session;
  private final PreparedStatement select;
  private final PreparedStatement insert;
  private final ConsistencyLevel readConsistency;
  private final ConsistencyLevel writeConsistency;

  CqlRouteMinuteRefresher(CqlSession session, String keyspace,
      ConsistencyLevel readConsistency, ConsistencyLevel writeConsistency) {
    this.session = session;
    this.readConsistency = readConsistency;
    this.writeConsistency = writeConsistency;
    this.select = session.prepare(selectCql(keyspace));
    this.insert = session.prepare(insertCql(keyspace));
  }

  /** Opens the connector's session for the job's life; consistency levels from the Spark conf. */
  public static CqlRouteMinuteRefresher open(SparkConf conf, String keyspace) {
    ConsistencyLevel read = consistency(conf, INPUT_CONSISTENCY);
    ConsistencyLevel write = consistency(conf, OUTPUT_CONSISTENCY);
    CqlSession session = CassandraConnector.apply(conf).openSession();
    try {
      return new CqlRouteMinuteRefresher(session, keyspace, read, write);
    } catch (RuntimeException e) {
      session.close();
      throw e;
    }
  }

  static ConsistencyLevel consistency(SparkConf conf, String key) {
    String name = conf.get(key, DEFAULT_CONSISTENCY).trim().toUpperCase(Locale.ROOT);
    try {
      return DefaultConsistencyLevel.valueOf(name);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(key + ": not a consistency level: " + name, e);
    }
  }

  @Override
  public void refresh(Collection<RouteMinute> keys) {
    Semaphore permits = new Semaphore(IN_FLIGHT);
    List<CompletableFuture<?>> all = new ArrayList<>(keys.size());
    try {
      for (RouteMinute key : keys) {
        permits.acquire();
        CompletableFuture<?> done = refreshOne(key).toCompletableFuture();
        done.whenComplete((r, e) -> permits.release());
        all.add(done);
      }
      CompletableFuture.allOf(all.toArray(new CompletableFuture<?>[0])).get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while refreshing route_minute", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException("refreshing route_minute failed: " + e.getCause(), e.getCause());
    }
  }

  private CompletionStage<AsyncResultSet> refreshOne(RouteMinute key) {
    return session.executeAsync(select.bind(key.routeId(), key.minute())
            .setConsistencyLevel(readConsistency)
            .setIdempotent(true))
        .thenCompose(rs -> {
          Row row = rs.one();
          long events = row == null ? 0 : row.getLong(0);
          if (events == 0) {
            // Nothing (left) to aggregate: leave route_minute as it is rather than write a zero.
            return CompletableFuture.completedFuture(rs);
          }
          Double avg = row.isNull(1) ? null : row.getDouble(1);
          return session.executeAsync(insert.bind(key.routeId(), key.minute(), events, avg)
              .setConsistencyLevel(writeConsistency)
              .setIdempotent(true));
        });
  }

  @Override
  public void close() {
    session.close();
  }
}
