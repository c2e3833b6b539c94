package org.smack.pipelines.iot.generator;

import java.io.IOException;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.LongStream;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.kafka.ProducerMessage;
import org.apache.pekko.kafka.ProducerSettings;
import org.apache.pekko.kafka.javadsl.Producer;
import org.apache.pekko.stream.ActorAttributes;
import org.apache.pekko.stream.RestartSettings;
import org.apache.pekko.stream.Supervision;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.RestartSource;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends simulated vehicle positions to Kafka, either forever at a fixed rate (a Marathon app) or
 * as a burst of exactly N events that ends with a one-line JSON summary on stdout (a test step).
 */
public final class Generator {

  private static final Logger log = LoggerFactory.getLogger(Generator.class);
  private static final Duration PROGRESS_EVERY = Duration.ofSeconds(10);

  private Generator() {}

  /** The Kafka client settings in a properties file; none without one. */
  static Map<String, String> clientSettings(String path) throws IOException {
    return path == null ? Map.of() : Utils.propsToStringMap(Utils.loadProps(path));
  }

  public static void main(String[] args) {
    GeneratorOptions opts;
    try {
      opts = GeneratorOptions.parse(args, System.getenv());
    } catch (GeneratorOptions.UsageException e) {
      System.err.println("iot-generator: " + e.getMessage() + " (see --help)");
      System.exit(2);
      return;
    }
    if (opts.help()) {
      System.out.print(GeneratorOptions.usage());
      return;
    }

    Map<String, String> client;
    try {
      client = clientSettings(opts.kafkaConfig());
    } catch (IOException e) {
      System.err.println("iot-generator: cannot read --kafka-config " + opts.kafkaConfig() + ": " + e);
      System.exit(2);
      return;
    }

    ActorSystem system = ActorSystem.create("iot-generator");
    EventFactory events = new EventFactory(opts.runId(), opts.seed(), opts.vehicles(), opts.routes());
    ProducerSettings<String, String> settings =
        ProducerSettings.create(system, new StringSerializer(), new StringSerializer())
            .withBootstrapServers(opts.bootstrap())
            // Every event is on all in-sync replicas before it counts as acked, and the
            // producer's own retries cannot duplicate or reorder it within a partition.
            .withProperty(ProducerConfig.ACKS_CONFIG, "all")
            .withProperty(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true")
            .withProperty(ProducerConfig.LINGER_MS_CONFIG, "5")
            .withProperty(ProducerConfig.CLIENT_ID_CONFIG, "iot-generator-" + opts.runId())
            // How to reach the brokers: TLS and the login (never on the command line).
            .withProperties(client);

    log.info("run_id={} topic={} bootstrap={} mode={} vehicles={} routes={} seed={}",
        opts.runId(), opts.topic(), opts.bootstrap(),
        opts.burst() ? "burst of " + opts.count() : "continuous at " + opts.rate() + "/s",
        opts.vehicles(), opts.routes(), opts.seed());

    if (opts.burst()) {
      int code = 1;
      try {
        code = burst(system, settings, events, opts);
      } finally {
        system.terminate();
        try {
          system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
          log.warn("actor system did not stop cleanly: {}", e.toString());
        }
      }
      // Non-daemon threads (Kafka client, dispatchers) must not keep a finished test step alive.
      System.exit(code);
    } else {
      continuous(system, settings, events, opts);
    }
  }

  private static ProducerMessage.Envelope<String, String, Long> message(
      EventFactory events, String topic, long seq) {
    EventFactory.Event e = events.event(seq);
    // event_time is taken here, as late as possible before the send.
    String value = e.toJson(System.currentTimeMillis());
    return ProducerMessage.single(new ProducerRecord<>(topic, e.vehicleId(), value), seq);
  }

  /**
   * The Kafka producer flow, failing at the first failed send and keeping that error in
   * {@code failure}. Callers stop feeding it once {@code failure} is set: while the brokers are
   * unreachable every send blocks for max.block.ms (60 s) before it fails, so each event that
   * got past that check costs another minute. For the same reason the stage runs fused with the
   * caller's stages (no dispatcher of its own, hence no input buffer of 16 events between them).
   */
  private static Flow<ProducerMessage.Envelope<String, String, Long>, ProducerMessage.Results<String, String, Long>, NotUsed>
      producer(ProducerSettings<String, String> settings, AtomicReference<Throwable> failure) {
    return Producer.<String, String, Long>flexiFlow(settings.withDispatcher(""))
        .addAttributes(ActorAttributes.withSupervisionStrategy(e -> {
          failure.compareAndSet(null, e);
          return Supervision.stop();
        }));
  }

  static int burst(ActorSystem system, ProducerSettings<String, String> settings,
      EventFactory events, GeneratorOptions opts) {
    AtomicLong acked = new AtomicLong();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    long start = System.nanoTime();
    CompletionStage<Done> done =
        Source.fromIterator(() -> LongStream.range(0, opts.count()).iterator())
            .takeWhile(seq -> failure.get() == null)
            .map(seq -> message(events, opts.topic(), seq))
            .via(producer(settings, failure))
            .runForeach(result -> acked.incrementAndGet(), system);
    String error = null;
    try {
      done.toCompletableFuture().join();
    } catch (RuntimeException e) {
      error = describe(failure.get() != null ? failure.get() : e);
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    Summary summary = new Summary(opts.runId(), opts.topic(), opts.count(), acked.get(), seconds, error);
    if (summary.ok()) {
      log.info("burst done: {} events acknowledged in {} s", summary.acked(), String.format(Locale.ROOT, "%.3f", seconds));
    } else {
      log.error("burst failed: {} of {} events acknowledged; first error: {}",
          summary.acked(), summary.requested(), error);
    }
    System.out.println(summary.toJson());
    System.out.flush();
    return summary.ok() ? 0 : 1;
  }

  static void continuous(ActorSystem system, ProducerSettings<String, String> settings,
      EventFactory events, GeneratorOptions opts) {
    AtomicLong nextSeq = new AtomicLong();
    AtomicLong acked = new AtomicLong();
    AtomicLong failed = new AtomicLong();

    RestartSettings backoff = RestartSettings.create(Duration.ofSeconds(1), Duration.ofSeconds(30), 0.2);
    Source<NotUsed, NotUsed> producing = RestartSource.withBackoff(backoff, () -> {
      // Per attempt: whatever this producer had sent but not seen acknowledged when it failed is
      // lost to the generator (its seqs are not reused, so event ids stay unique).
      AtomicLong sent = new AtomicLong();
      AtomicLong confirmed = new AtomicLong();
      AtomicReference<Throwable> failure = new AtomicReference<>();
      return Source.repeat(NotUsed.getInstance())
          .throttle(opts.rate(), Duration.ofSeconds(1))
          .takeWhile(tick -> failure.get() == null)
          .map(tick -> {
            sent.incrementAndGet();
            return message(events, opts.topic(), nextSeq.getAndIncrement());
          })
          .via(producer(settings, failure))
          .map(result -> {
            confirmed.incrementAndGet();
            acked.incrementAndGet();
            return NotUsed.getInstance();
          })
          .watchTermination((mat, terminated) -> {
            terminated.whenComplete((d, e) -> {
              if (e != null) {
                long lost = sent.get() - confirmed.get();
                failed.addAndGet(lost);
                log.warn("producer failed ({} unacknowledged events counted as failed), restarting with backoff: {}",
                    lost, describe(failure.get() != null ? failure.get() : e));
              }
            });
            return mat;
          });
    });
    producing.runWith(Sink.ignore(), system);

    AtomicLong lastAcked = new AtomicLong();
    system.scheduler().scheduleAtFixedRate(PROGRESS_EVERY, PROGRESS_EVERY, () -> {
      long now = acked.get();
      double rate = (now - lastAcked.getAndSet(now)) / (double) PROGRESS_EVERY.toSeconds();
      log.info("progress run_id={} acked={} failed={} rate={} events/s (target {})",
          opts.runId(), now, failed.get(), String.format(Locale.ROOT, "%.1f", rate), opts.rate());
    }, system.dispatcher());
  }

  /** One line naming the root failure, for logs and the summary's first_error. */
  static String describe(Throwable t) {
    Throwable c = t;
    while ((c instanceof CompletionException || c instanceof ExecutionException) && c.getCause() != null) {
      c = c.getCause();
    }
    String text = c.getMessage() == null ? c.getClass().getName() : c.getClass().getName() + ": " + c.getMessage();
    return text.replaceAll("\\s+", " ").trim();
  }
}
