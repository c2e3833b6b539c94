package org.smack.pipelines.iot.stream;

import static org.apache.spark.sql.functions.col;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.utils.Utils;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.function.VoidFunction2;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.apache.spark.sql.streaming.StreamingQueryException;
import org.apache.spark.sql.streaming.StreamingQueryListener;
import org.apache.spark.sql.streaming.Trigger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kafka topic of vehicle positions to Cassandra: every event keyed by event_id (positions), every
 * event keyed by route and minute (positions_by_route_minute), and per-route, per-minute counts and
 * mean speeds (route_minute) recomputed from the latter. One stateless query: Spark keeps no state
 * on the executors, and the checkpoint (offsets and commits only) is written by the driver. Run by
 * spark-submit; with --stop-after it is a self-checking test step instead of a service.
 */
public final class StreamJob {

  public static final String POSITIONS = "positions";
  public static final String POSITIONS_BY_ROUTE_MINUTE = "positions_by_route_minute";
  public static final String ROUTE_MINUTE = "route_minute";

  private static final Logger log = LoggerFactory.getLogger(StreamJob.class);

  private StreamJob() {}

  /** Writes one micro-batch. The job's writer is the Cassandra connector; the tests collect rows. */
  @FunctionalInterface
  public interface BatchWriter {
    void write(Dataset<Row> batch);
  }

  /** Where a micro-batch goes: the two keyed tables, then the aggregates of the keys it touched. */
  public record Sinks(BatchWriter positions, BatchWriter byRouteMinute, RouteMinuteRefresher routeMinute) {}

  /**
   * Counts what the query read (from its progress reports) and what it has durably written
   * (after each micro-batch's writes and aggregate refresh all succeeded), for verify mode and the
   * logs; and creates the ready file once the query has completed a first trigger.
   */
  public static final class Progress extends StreamingQueryListener {
    final AtomicLong consumed = new AtomicLong();
    final AtomicLong written = new AtomicLong();
    final AtomicLong batches = new AtomicLong();
    final AtomicLong aggregated = new AtomicLong();
    private final AtomicBoolean triggered = new AtomicBoolean();
    private final Path readyFile;

    public Progress(Path readyFile) {
      this.readyFile = readyFile;
    }

    @Override
    public void onQueryStarted(QueryStartedEvent event) {}

    @Override
    public void onQueryProgress(QueryProgressEvent event) {
      if (POSITIONS.equals(event.progress().name())) {
        consumed.addAndGet(event.progress().numInputRows());
        triggered();
      }
    }

    // Spark 3.5 reports a trigger that found no data (an empty topic) as idle, not as progress,
    // and without the query's name; the job runs one query only.
    @Override
    public void onQueryIdle(QueryIdleEvent event) {
      triggered();
    }

    @Override
    public void onQueryTerminated(QueryTerminatedEvent event) {}

    private void triggered() {
      if (readyFile == null || !triggered.compareAndSet(false, true)) {
        return;
      }
      try {
        // Whole or not at all: a waiter polls for the path.
        Path tmp = readyFile.resolveSibling(readyFile.getFileName() + ".tmp");
        Files.writeString(tmp, "ready\n");
        Files.move(tmp, readyFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        log.info("the query has run a first trigger; created {}", readyFile);
      } catch (IOException e) {
        log.error("could not create the ready file {}: {}", readyFile, e.toString());
      }
    }

    void batchDone(long rows, long pairs) {
      written.addAndGet(rows);
      aggregated.addAndGet(pairs);
      batches.incrementAndGet();
    }

    boolean reached(long n) {
      return consumed.get() >= n && written.get() >= n;
    }
  }

  /**
   * A driver the standalone master starts (cluster mode) gets Spark's authentication secret only in
   * its environment: the worker takes it out of the JVM options, so no process list shows it. Spark
   * 3.5 still wants it in the driver's configuration, or the driver stops with "A secret key must be
   * specified via the spark.authenticate.secret config"; this copies it there.
   */
  static void withAuthSecretFromEnvironment(SparkConf conf, java.util.Map<String, String> env) {
    String secret = env.get(AUTH_SECRET_ENV);
    if (conf.getBoolean("spark.authenticate", false) && secret != null && !secret.isEmpty()) {
      conf.setIfMissing("spark.authenticate.secret", secret);
    }
  }

  /** The Kafka client settings in a properties file, each key prefixed with "kafka.". */
  static Map<String, String> kafkaSettings(String path) throws IOException {
    Map<String, String> out = new TreeMap<>();
    if (path != null) {
      Utils.propsToStringMap(Utils.loadProps(path)).forEach((key, value) -> out.put("kafka." + key, value));
    }
    return out;
  }

  /**
   * The Cassandra connector's settings in a properties file (the login and TLS), put into the
   * Spark conf unless the submitter set them: the executors' connectors get them from there. Only
   * spark.cassandra.* keys: the file is not a way to change anything else.
   */
  static void withCassandraSettings(SparkConf conf, String path) throws IOException {
    if (path == null) {
      return;
    }
    Map<String, String> settings = new TreeMap<>(Utils.propsToStringMap(Utils.loadProps(path)));
    for (String key : settings.keySet()) {
      if (!key.startsWith("spark.cassandra.")) {
        throw new IOException(path + ": only spark.cassandra.* settings belong here, not " + key);
      }
    }
    settings.forEach(conf::setIfMissing);
  }

  /** Where Spark's workers put the authentication secret for the JVMs they start. */
  static final String AUTH_SECRET_ENV = "_SPARK_AUTH_SECRET";

  public static void main(String[] args) {
    // Verify mode's time limit counts from here, not from the query's start: starting Spark can
    // take minutes on a busy machine, and the figures must be printed before the caller's own
    // limit (--timeout-seconds plus a margin) ends the process.
    long started = System.nanoTime();
    StreamOptions opts;
    try {
      opts = StreamOptions.parse(args);
    } catch (StreamOptions.UsageException e) {
      System.err.println("iot-stream: " + e.getMessage() + " (see --help)");
      System.exit(2);
      return;
    }
    if (opts.help()) {
      System.out.print(StreamOptions.USAGE);
      return;
    }

    SparkConf conf = new SparkConf();
    conf.setIfMissing("spark.app.name", "iot-stream");
    // Each batch's distinct (route, minute) keys are a small shuffle: Spark's default of 200
    // partitions is far too many for a few rows and cores. The submitter may still choose.
    conf.setIfMissing("spark.sql.shuffle.partitions", "6");
    // Minutes are truncated in the session time zone: make it UTC unless the submitter chose.
    conf.setIfMissing("spark.sql.session.timeZone", "UTC");
    // Exact aggregates need the aggregate read to see every row the batch wrote: QUORUM writes
    // (the connector's DataFrame writes and the route_minute upserts) and QUORUM reads, unless set.
    conf.setIfMissing(CqlRouteMinuteRefresher.OUTPUT_CONSISTENCY, CqlRouteMinuteRefresher.DEFAULT_CONSISTENCY);
    conf.setIfMissing(CqlRouteMinuteRefresher.INPUT_CONSISTENCY, CqlRouteMinuteRefresher.DEFAULT_CONSISTENCY);
    if (opts.readyFile() != null) {
      // On an empty topic a query reports its first trigger only as an idle event, and those
      // come 10 s apart by default: the ready file would be late by as much.
      conf.setIfMissing("spark.sql.streaming.noDataProgressEventInterval", "1s");
    }
    withAuthSecretFromEnvironment(conf, System.getenv());
    try {
      withCassandraSettings(conf, opts.cassandraConfig());
    } catch (IOException e) {
      System.err.println("iot-stream: cannot read --cassandra-config: " + e.getMessage());
      System.exit(2);
      return;
    }
    SparkSession spark = SparkSession.builder().config(conf).getOrCreate();
    SparkConf sparkConf = spark.sparkContext().getConf();
    log.info("topic={} keyspace={} checkpoint={} cassandra={} write consistency={} read consistency={} "
            + "shuffle.partitions={}",
        opts.topic(), opts.keyspace(), opts.checkpoint(),
        sparkConf.get("spark.cassandra.connection.host", "(unset: connector default)"),
        sparkConf.get(CqlRouteMinuteRefresher.OUTPUT_CONSISTENCY),
        sparkConf.get(CqlRouteMinuteRefresher.INPUT_CONSISTENCY),
        spark.conf().get("spark.sql.shuffle.partitions"));

    int code;
    CqlRouteMinuteRefresher refresher = null;
    try {
      refresher = CqlRouteMinuteRefresher.open(sparkConf, opts.keyspace());
      Progress progress = new Progress(opts.readyFile() == null ? null : Path.of(opts.readyFile()));
      spark.streams().addListener(progress);
      Sinks sinks = new Sinks(
          cassandra(opts.keyspace(), POSITIONS),
          cassandra(opts.keyspace(), POSITIONS_BY_ROUTE_MINUTE),
          refresher);
      List<StreamingQuery> queries = List.of(startPositions(kafka(spark, opts), opts, sinks, progress));
      if (opts.verify()) {
        VerifySummary summary = verify(queries, progress, opts.stopAfter(), opts.timeoutSeconds(), started);
        System.out.println(summary.toJson());
        System.out.flush();
        code = summary.ok() ? 0 : 1;
      } else {
        code = runUntilFailure(spark, queries);
      }
    } catch (TimeoutException | IOException | RuntimeException e) {
      log.error("the job could not start or run its query", e);
      code = 1;
    } finally {
      if (refresher != null) {
        try {
          refresher.close();
        } catch (RuntimeException e) {
          log.warn("closing the Cassandra session: {}", e.toString());
        }
      }
    }
    spark.stop();
    System.exit(code);
  }

  static Dataset<Row> kafka(SparkSession spark, StreamOptions opts) throws IOException {
    return spark.readStream()
        .format("kafka")
        // How to reach the brokers (TLS, the login): the Kafka source takes client settings
        // prefixed with "kafka." and hands them to the executors' consumers.
        .options(kafkaSettings(opts.kafkaConfig()))
        .option("kafka.bootstrap.servers", opts.bootstrap())
        .option("subscribe", opts.topic())
        .option("startingOffsets", opts.startingOffsets())
        // Retention may have removed offsets a stale checkpoint points at: go on from what is left.
        .option("failOnDataLoss", "false")
        .load();
  }

  static BatchWriter cassandra(String keyspace, String table) {
    // Append through the connector is a CQL INSERT, i.e. an upsert by primary key; consistency
    // and contact points come from the spark.cassandra.* conf.
    return batch -> batch.write()
        .format("org.apache.spark.sql.cassandra")
        .option("keyspace", keyspace)
        .option("table", table)
        .mode(SaveMode.Append)
        .save();
  }

  private static Column[] columns(String[] names) {
    return Arrays.stream(names).map(n -> col(n)).toArray(Column[]::new);
  }

  /**
   * The work of one micro-batch. Every step is idempotent, so a batch replayed after a failure
   * (or the whole topic re-read) leaves the same rows: upserts by key into positions and
   * positions_by_route_minute, then route_minute recomputed from the latter for each (route,
   * minute) the batch touched. The counters move only once all of it succeeded.
   */
  static VoidFunction2<Dataset<Row>, Long> perBatch(Sinks sinks, Progress progress) {
    return (batch, batchId) -> {
      // Cached so that counting and both writes read Kafka once.
      Dataset<Row> rows = batch.select(columns(Events.POSITIONS_COLUMNS)).persist();
      try {
        long n = rows.count();
        long pairs = 0;
        if (n > 0) {
          sinks.positions().write(rows);
          Dataset<Row> byMinute = Events.byRouteMinute(rows);
          sinks.byRouteMinute().write(byMinute);
          List<RouteMinute> keys = Events.routeMinutes(byMinute);
          sinks.routeMinute().refresh(keys);
          pairs = keys.size();
        }
        progress.batchDone(n, pairs);
        log.info("batch {}: {} rows written, {} (route, minute) aggregates refreshed", batchId, n, pairs);
      } finally {
        rows.unpersist();
      }
    };
  }

  static StreamingQuery startPositions(
      Dataset<Row> kafkaRows, StreamOptions opts, Sinks sinks, Progress progress)
      throws TimeoutException {
    return Events.parse(kafkaRows)
        .writeStream()
        .queryName(POSITIONS)
        .option("checkpointLocation", opts.positionsCheckpoint())
        .trigger(Trigger.ProcessingTime(opts.triggerSeconds(), TimeUnit.SECONDS))
        .foreachBatch(perBatch(sinks, progress))
        .start();
  }

  /** Waits until the query has read and written stopAfter rows, fails, or time runs out. */
  static VerifySummary verify(List<StreamingQuery> queries, Progress progress, long stopAfter, int timeoutSeconds) {
    return verify(queries, progress, stopAfter, timeoutSeconds, System.nanoTime());
  }

  /** The same, with the time limit counted from {@code start} (System.nanoTime()). */
  static VerifySummary verify(List<StreamingQuery> queries, Progress progress, long stopAfter, int timeoutSeconds,
      long start) {
    long deadline = start + TimeUnit.SECONDS.toNanos(timeoutSeconds);
    String error = null;
    boolean timedOut = false;
    while (!progress.reached(stopAfter)) {
      error = failure(queries);
      if (error != null) {
        break;
      }
      if (System.nanoTime() > deadline) {
        timedOut = true;
        break;
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        error = "interrupted";
        break;
      }
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    stopAll(queries);
    return new VerifySummary(progress.consumed.get(), progress.written.get(), progress.aggregated.get(),
        progress.batches.get(), seconds, timedOut, error);
  }

  /** Runs until the query dies; the non-zero exit lets the supervisor (Marathon) restart the driver. */
  static int runUntilFailure(SparkSession spark, List<StreamingQuery> queries) {
    try {
      spark.streams().awaitAnyTermination();
      log.error("a streaming query stopped: {}", failure(queries));
    } catch (StreamingQueryException e) {
      log.error("a streaming query failed: {}", failure(queries), e);
    }
    stopAll(queries);
    return 1;
  }

  /** The first failed or stopped query, as one line; null while all run. */
  static String failure(List<StreamingQuery> queries) {
    for (StreamingQuery q : queries) {
      if (!q.isActive()) {
        String why = q.exception().isDefined() ? q.exception().get().message() : "stopped";
        return ("query " + q.name() + ": " + why).replaceAll("\\s+", " ").trim();
      }
    }
    return null;
  }

  private static void stopAll(List<StreamingQuery> queries) {
    for (StreamingQuery q : queries) {
      try {
        q.stop();
      } catch (TimeoutException | RuntimeException e) {
        log.warn("stopping query {}: {}", q.name(), e.toString());
      }
    }
  }
}
