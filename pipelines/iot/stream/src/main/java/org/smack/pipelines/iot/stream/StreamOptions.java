package org.smack.pipelines.iot.stream;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/** Command-line flags of the streaming job (spark-submit passes them after the jar). */
public record StreamOptions(
    String bootstrap,
    String topic,
    String keyspace,
    String checkpoint,
    String startingOffsets,
    int triggerSeconds,
    long stopAfter,
    int timeoutSeconds,
    String readyFile,
    String kafkaConfig,
    String cassandraConfig,
    boolean help) {

  /** A bad flag or value; the message is one line meant for the operator. */
  public static final class UsageException extends Exception {
    public UsageException(String message) {
      super(message);
    }
  }

  private static final Map<String, String> DEFAULTS = new LinkedHashMap<>();

  static {
    DEFAULTS.put("--bootstrap", null);
    DEFAULTS.put("--topic", "iot.vehicle-positions");
    DEFAULTS.put("--keyspace", "iot");
    DEFAULTS.put("--checkpoint", null);
    DEFAULTS.put("--starting-offsets", "earliest");
    DEFAULTS.put("--trigger-seconds", "5");
    DEFAULTS.put("--stop-after", "0");
    DEFAULTS.put("--timeout-seconds", "300");
    DEFAULTS.put("--ready-file", null);
    DEFAULTS.put("--kafka-config", null);
    DEFAULTS.put("--cassandra-config", null);
  }

  // Unquoted CQL identifier: the keyspace is spliced into table references.
  private static final Pattern KEYSPACE = Pattern.compile("[a-zA-Z][a-zA-Z0-9_]{0,47}");

  public static final String USAGE = String.join("\n",
      "usage: spark-submit ... iot-stream-1.0.0.jar --bootstrap HOST:PORT --checkpoint DIR [options]",
      "  --bootstrap HOST:PORT[,..]  Kafka bootstrap servers (required)",
      "  --topic NAME                topic to read [iot.vehicle-positions]",
      "  --keyspace NAME             Cassandra keyspace of positions, positions_by_route_minute, route_minute [iot]",
      "  --checkpoint DIR            checkpoint root; the query uses DIR/positions (offsets only) (required)",
      "  --starting-offsets SPEC     earliest, latest or Kafka source JSON; only used without a checkpoint [earliest]",
      "  --trigger-seconds N         micro-batch interval [5]",
      "  --stop-after N              0 = run until killed; N > 0 = verify mode: stop once N rows are",
      "                              consumed and written, print one JSON line [0]",
      "  --timeout-seconds N         verify mode gives up this long after the job started [300]",
      "  --ready-file PATH           create PATH once the query has run its first trigger",
      "                              (Kafka offsets resolved): events sent after it are read [none]",
      "  --kafka-config PATH         properties file of Kafka client settings (security.protocol, sasl.*,",
      "                              ssl.*), read by the driver and passed to the Kafka source [none]",
      "  --cassandra-config PATH     properties file of spark.cassandra.* settings (auth.*, connection.ssl.*),",
      "                              read by the driver into the Spark conf the executors get [none]",
      "  --help                      this text",
      "Cassandra comes from Spark conf: spark.cassandra.connection.host; spark.cassandra.output.consistency.level",
      "(writes) and spark.cassandra.input.consistency.level (aggregate reads), both QUORUM if unset.",
      "");

  public static StreamOptions parse(String[] args) throws UsageException {
    Map<String, String> v = new LinkedHashMap<>(DEFAULTS);
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (arg.equals("--help") || arg.equals("-h")) {
        return new StreamOptions(null, null, null, null, null, 0, 0, 0, null, null, null, true);
      }
      String name = arg;
      String value = null;
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 0) {
        name = arg.substring(0, eq);
        value = arg.substring(eq + 1);
      }
      if (!DEFAULTS.containsKey(name)) {
        throw new UsageException("unknown argument " + arg);
      }
      if (value == null) {
        if (i + 1 >= args.length) {
          throw new UsageException(name + " needs a value");
        }
        value = args[++i];
      }
      v.put(name, value);
    }

    for (String required : new String[] {"--bootstrap", "--checkpoint"}) {
      if (v.get(required) == null || v.get(required).isBlank()) {
        throw new UsageException(required + " is required");
      }
    }
    if (v.get("--topic").isBlank() || v.get("--starting-offsets").isBlank()) {
      throw new UsageException("--topic and --starting-offsets must not be empty");
    }
    if (!KEYSPACE.matcher(v.get("--keyspace")).matches()) {
      throw new UsageException("--keyspace must be a plain CQL identifier, got '" + v.get("--keyspace") + "'");
    }
    String checkpoint = v.get("--checkpoint");
    while (checkpoint.length() > 1 && checkpoint.endsWith("/")) {
      checkpoint = checkpoint.substring(0, checkpoint.length() - 1);
    }
    return new StreamOptions(
        v.get("--bootstrap").trim(),
        v.get("--topic"),
        v.get("--keyspace"),
        checkpoint,
        v.get("--starting-offsets"),
        (int) number(v, "--trigger-seconds", 1, 3600),
        number(v, "--stop-after", 0, Long.MAX_VALUE),
        (int) number(v, "--timeout-seconds", 1, Integer.MAX_VALUE),
        v.get("--ready-file") == null || v.get("--ready-file").isBlank() ? null : v.get("--ready-file"),
        optional(v, "--kafka-config"),
        optional(v, "--cassandra-config"),
        false);
  }

  private static String optional(Map<String, String> v, String flag) {
    String value = v.get(flag);
    return value == null || value.isBlank() ? null : value;
  }

  private static long number(Map<String, String> v, String flag, long min, long max) throws UsageException {
    String raw = v.get(flag);
    long n;
    try {
      n = Long.parseLong(raw.trim());
    } catch (NumberFormatException e) {
      throw new UsageException(flag + " must be an integer, got '" + raw + "'");
    }
    if (n < min || n > max) {
      throw new UsageException(flag + " must be between " + min + " and " + max + ", got " + n);
    }
    return n;
  }

  public boolean verify() {
    return stopAfter > 0;
  }

  public String positionsCheckpoint() {
    return checkpoint + "/positions";
  }
}
