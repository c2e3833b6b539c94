package org.smack.pipelines.iot.stream;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.execution.streaming.MemoryStream;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import scala.Tuple2;
import scala.collection.JavaConverters;

/**
 * The query end to end on in-memory input instead of Kafka and in-memory tables instead of
 * Cassandra (see {@link MemoryTables}), and the per-batch work replayed directly.
 */
class StreamJobTest {

  /** 2024-12-04T08:13:00Z, a minute boundary. */
  private static final long MINUTE = 1733299980000L;

  @TempDir
  Path dir;

  private static String json(String id, String route, double speed, long time) {
    return String.format(Locale.ROOT,
        "{\"event_id\":\"%s\",\"vehicle_id\":\"bus-0001\",\"route_id\":\"%s\",\"lat\":52.5,\"lon\":13.4,"
            + "\"speed_kmh\":%.1f,\"event_time\":%d}", id, route, speed, time);
  }

  private static Tuple2<String, Long> event(long offset, String id, String route, double speed, long time) {
    return new Tuple2<>(json(id, route, speed, time), offset);
  }

  private static RouteMinute key(String route, long epochMillis) {
    return new RouteMinute(route, Instant.ofEpochMilli(epochMillis));
  }

  private static MemoryTables.Aggregate agg(long events, double avg) {
    return new MemoryTables.Aggregate(events, avg);
  }

  /** Shaped like the Kafka source: the tuple is (value, offset), all in partition 0. */
  private static Dataset<Row> asKafka(MemoryStream<Tuple2<String, Long>> in) {
    return in.toDF().select(
        col("_1").cast("binary").as("value"), lit(0).as("partition"), col("_2").as("offset"));
  }

  private static MemoryStream<Tuple2<String, Long>> memoryStream(SparkSession spark) {
    return MemoryStream.apply(Encoders.tuple(Encoders.STRING(), Encoders.LONG()), spark.sqlContext());
  }

  private static void add(MemoryStream<Tuple2<String, Long>> in, List<Tuple2<String, Long>> records) {
    in.addData(JavaConverters.asScalaBufferConverter(new ArrayList<>(records)).asScala());
  }

  /** A static batch as the query hands it to foreachBatch: parsed Kafka rows. */
  private static Dataset<Row> parsedBatch(List<Tuple2<String, Long>> records) {
    List<Row> rows = new ArrayList<>();
    for (Tuple2<String, Long> r : records) {
      rows.add(EventsTest.kafkaRow(r._1(), 0, r._2()));
    }
    return Events.parse(LocalSpark.get().createDataFrame(rows, EventsTest.KAFKA));
  }

  private static final List<Tuple2<String, Long>> FIRST = List.of(
      event(0, "r-0", "route-00", 10, MINUTE + 5_000),
      event(1, "r-1", "route-00", 20, MINUTE + 10_000),
      event(2, "r-2", "route-00", 30, MINUTE + 20_000),
      event(3, "r-3", "route-00", 40, MINUTE + 59_999),
      event(4, "r-4", "route-01", 15, MINUTE + 61_000),
      new Tuple2<>("garbage", 5L));

  /** r-0 again (a producer retry or a replay), a new event in the same minute, a late one. */
  private static final List<Tuple2<String, Long>> SECOND = List.of(
      event(6, "r-0", "route-00", 10, MINUTE + 5_000),
      event(7, "r-5", "route-00", 50, MINUTE + 30_000),
      event(8, "r-6", "route-01", 25, MINUTE - 3 * 60_000 + 1_000));

  private static final Map<String, MemoryTables.Aggregate> EXPECTED = Map.of(
      "route-00@" + Instant.ofEpochMilli(MINUTE), agg(5, 30.0),
      "route-01@" + Instant.ofEpochMilli(MINUTE + 60_000), agg(1, 15.0),
      "route-01@" + Instant.ofEpochMilli(MINUTE - 3 * 60_000), agg(1, 25.0));

  @Test
  void oneStatelessQueryConvergesOverBatchesWithDuplicatesAndLateEvents() throws Exception {
    SparkSession spark = LocalSpark.get();
    MemoryStream<Tuple2<String, Long>> in = memoryStream(spark);
    MemoryTables tables = new MemoryTables();
    Path ready = dir.resolve("ready");
    StreamJob.Progress progress = new StreamJob.Progress(ready);
    spark.streams().addListener(progress);
    StreamOptions opts = StreamOptions.parse(new String[] {
        "--bootstrap", "unused:9092", "--checkpoint", dir.resolve("ckpt").toString(), "--trigger-seconds", "1"});
    List<StreamingQuery> queries = new ArrayList<>();
    try {
      queries.add(StreamJob.startPositions(asKafka(in), opts, tables.sinks(), progress));
      // No data yet: the query only reports idle triggers, which must be enough.
      long deadline = System.nanoTime() + 30_000_000_000L;
      while (!Files.exists(ready) && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
      assertTrue(Files.exists(ready), "ready file");

      add(in, FIRST);
      queries.get(0).processAllAvailable();
      assertEquals(agg(4, 25.0), tables.routeMinute.get(key("route-00", MINUTE)));
      assertEquals(agg(1, 15.0), tables.routeMinute.get(key("route-01", MINUTE + 60_000)));

      add(in, SECOND);
      // 9 records read, 8 of them valid and written.
      VerifySummary summary = StreamJob.verify(queries, progress, 8, 60);

      assertTrue(summary.ok(), summary.toJson());
      assertNull(summary.error());
      assertEquals(9, summary.consumed());
      assertEquals(8, summary.written());
      assertEquals(2, summary.batches());
      // Batch 1 touched route-00@M and route-01@M+1; batch 2 route-00@M and route-01@M-3.
      assertEquals(4, summary.aggregated());

      assertEquals(7, tables.positions.size());
      Row r0 = tables.positions.get("r-0");
      assertEquals("route-00", r0.getAs("route_id"));
      assertEquals(Instant.ofEpochMilli(MINUTE + 5_000), ((Timestamp) r0.getAs("event_time")).toInstant());
      assertEquals(6L, (long) r0.getAs("kafka_offset"));
      assertEquals(List.of(Events.POSITIONS_COLUMNS), List.of(r0.schema().fieldNames()));
      assertEquals(List.of(Events.POSITIONS_BY_ROUTE_MINUTE_COLUMNS), tables.byRouteMinuteColumns.get());

      // r-0 counted once; the late event (three minutes earlier) has its own minute.
      assertEquals(EXPECTED, tables.snapshot());
      assertEquals(5, tables.byRouteMinute.get(key("route-00", MINUTE)).size());
      assertTrue(queries.get(0).lastProgress().stateOperators().length == 0, "no state operators");

      // A driver relaunched with a fresh checkpoint re-reads the whole topic into the same tables.
      MemoryStream<Tuple2<String, Long>> again = memoryStream(spark);
      StreamOptions fresh = StreamOptions.parse(new String[] {
          "--bootstrap", "unused:9092", "--checkpoint", dir.resolve("ckpt2").toString(), "--trigger-seconds", "1"});
      queries.add(StreamJob.startPositions(asKafka(again), fresh, tables.sinks(), new StreamJob.Progress(null)));
      List<Tuple2<String, Long>> all = new ArrayList<>(FIRST);
      all.addAll(SECOND);
      add(again, all);
      queries.get(1).processAllAvailable();
      assertEquals(EXPECTED, tables.snapshot());
      assertEquals(7, tables.positions.size());
    } finally {
      for (StreamingQuery q : queries) {
        q.stop();
      }
      spark.streams().removeListener(progress);
    }
  }

  @Test
  void aReplayedBatchOrAFullReReadLeavesTheSameAggregates() throws Exception {
    MemoryTables tables = new MemoryTables();
    StreamJob.Progress progress = new StreamJob.Progress(null);
    var perBatch = StreamJob.perBatch(tables.sinks(), progress);

    perBatch.call(parsedBatch(FIRST), 0L);
    perBatch.call(parsedBatch(SECOND), 1L);
    assertEquals(EXPECTED, tables.snapshot());

    // Batch 1 replayed after a failure (its commit was lost): same rows, same aggregates.
    perBatch.call(parsedBatch(SECOND), 1L);
    assertEquals(EXPECTED, tables.snapshot());
    assertEquals(7, tables.positions.size());
    assertEquals(5 + 3 + 3, progress.written.get());
    assertEquals(3, progress.batches.get());
    assertEquals(2 + 2 + 2, progress.aggregated.get());

    // Everything in one batch into empty tables: the same aggregates.
    MemoryTables fresh = new MemoryTables();
    List<Tuple2<String, Long>> all = new ArrayList<>(SECOND);
    all.addAll(FIRST);
    StreamJob.perBatch(fresh.sinks(), new StreamJob.Progress(null)).call(parsedBatch(all), 0L);
    assertEquals(EXPECTED, fresh.snapshot());
    assertEquals(3, fresh.refreshed.size());

    // An empty batch writes nothing and refreshes nothing.
    MemoryTables empty = new MemoryTables();
    StreamJob.Progress emptyProgress = new StreamJob.Progress(null);
    StreamJob.perBatch(empty.sinks(), emptyProgress).call(parsedBatch(List.of(new Tuple2<>("garbage", 0L))), 0L);
    assertTrue(empty.positions.isEmpty() && empty.refreshed.isEmpty());
    assertEquals(1, emptyProgress.batches.get());
    assertEquals(0, emptyProgress.written.get());
  }

  @Test
  void aFailedRefreshFailsTheBatchAndCountsNothing() {
    MemoryTables tables = new MemoryTables();
    StreamJob.Progress progress = new StreamJob.Progress(null);
    StreamJob.Sinks failing = new StreamJob.Sinks(tables.sinks().positions(), tables.sinks().byRouteMinute(),
        keys -> {
          throw new IllegalStateException("cassandra down");
        });
    var perBatch = StreamJob.perBatch(failing, progress);
    Exception e = org.junit.jupiter.api.Assertions.assertThrows(
        IllegalStateException.class, () -> perBatch.call(parsedBatch(FIRST), 0L));
    assertEquals("cassandra down", e.getMessage());
    assertEquals(0, progress.written.get());
    assertEquals(0, progress.batches.get());
  }

  @Test
  void verifyCountsItsTimeFromTheJobsStart() {
    // Spark took 5 s to start: a 3 s limit has passed before the query runs.
    long started = System.nanoTime() - java.util.concurrent.TimeUnit.SECONDS.toNanos(5);
    long before = System.nanoTime();
    VerifySummary summary = StreamJob.verify(List.of(), new StreamJob.Progress(null), 1, 3, started);
    assertTrue(summary.timedOut());
    assertTrue(System.nanoTime() - before < java.util.concurrent.TimeUnit.SECONDS.toNanos(1));
    assertTrue(summary.toJson().contains("\"seconds\":5."), summary.toJson());
  }

  @Test
  void verifyReportsATimeout() throws Exception {
    StreamJob.Progress progress = new StreamJob.Progress(null);
    VerifySummary summary = StreamJob.verify(List.of(), progress, 1, 1);
    assertTrue(summary.timedOut());
    assertEquals("{\"consumed\":0,\"written\":0,\"aggregated\":0,\"batches\":0,\"seconds\":",
        summary.toJson().substring(0, summary.toJson().indexOf("\"seconds\":") + 10));
    assertTrue(summary.toJson().endsWith(",\"timed_out\":true,\"error\":null}"));
  }
}
