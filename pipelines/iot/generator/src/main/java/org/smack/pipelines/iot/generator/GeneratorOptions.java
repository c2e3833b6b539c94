package org.smack.pipelines.iot.generator;

import java.security.SecureRandom;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Generator settings. Every option is a flag with an environment-variable fallback, so the same
 * jar runs by hand and as a Marathon app configured only through {@code env}.
 */
public record GeneratorOptions(
    String bootstrap,
    String topic,
    int rate,
    long count,
    String runId,
    int vehicles,
    int routes,
    long seed,
    String kafkaConfig,
    boolean help) {

  /** A bad flag or value; the message is one line meant for the operator. */
  public static final class UsageException extends Exception {
    public UsageException(String message) {
      super(message);
    }
  }

  private record Option(String flag, String env, String defaultValue, String description) {}

  private static final List<Option> OPTIONS = List.of(
      new Option("--bootstrap", "IOT_BOOTSTRAP", null, "Kafka bootstrap servers host:port[,host:port] (required)"),
      new Option("--topic", "IOT_TOPIC", "iot.vehicle-positions", "topic to write to"),
      new Option("--rate", "IOT_RATE", "50", "events per second in continuous mode"),
      new Option("--count", "IOT_COUNT", "0", "0 = run forever; N > 0 = burst: send N events as fast as possible, wait for every ack, exit"),
      new Option("--run-id", "IOT_RUN_ID", null, "prefix of event ids <run-id>-<seq> (default: random 8 hex digits)"),
      new Option("--vehicles", "IOT_VEHICLES", "50", "number of simulated vehicles"),
      new Option("--routes", "IOT_ROUTES", "12", "number of routes the vehicles are spread over"),
      new Option("--seed", "IOT_SEED", "1", "seed of the route layout and vehicle motion"),
      new Option("--kafka-config", "IOT_KAFKA_CONFIG", null,
          "properties file of Kafka client settings (security.protocol, sasl.*, ssl.*) added to the producer's"));

  // The run id ends up inside every event id and in Cassandra keys: keep it plain.
  private static final Pattern RUN_ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");

  public static String usage() {
    StringBuilder sb = new StringBuilder(
        "usage: java -jar iot-generator-1.0.0.jar --bootstrap HOST:PORT [options]\n"
            + "Each flag falls back to the environment variable shown; a flag wins over its variable.\n");
    for (Option o : OPTIONS) {
      sb.append(String.format("  %-12s %-13s %s%s%n", o.flag, o.env, o.description,
          o.defaultValue == null ? "" : " [" + o.defaultValue + "]"));
    }
    sb.append("  --help                     this text\n");
    return sb.toString();
  }

  public static GeneratorOptions parse(String[] args, Map<String, String> env) throws UsageException {
    Map<String, String> flags = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (arg.equals("--help") || arg.equals("-h")) {
        return new GeneratorOptions(null, null, 0, 0, null, 0, 0, 0, null, true);
      }
      String name = arg;
      String value = null;
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 0) {
        name = arg.substring(0, eq);
        value = arg.substring(eq + 1);
      }
      String flag = name;
      if (OPTIONS.stream().noneMatch(o -> o.flag.equals(flag))) {
        throw new UsageException("unknown argument " + arg);
      }
      if (value == null) {
        if (i + 1 >= args.length) {
          throw new UsageException(name + " needs a value");
        }
        value = args[++i];
      }
      flags.put(name, value);
    }

    Map<String, String> v = new HashMap<>();
    for (Option o : OPTIONS) {
      String value = flags.get(o.flag);
      if (value == null) {
        // An empty variable counts as unset: Marathon app definitions often carry "" placeholders.
        String fromEnv = env.get(o.env);
        value = fromEnv == null || fromEnv.isEmpty() ? o.defaultValue : fromEnv;
      }
      if (value != null) {
        v.put(o.flag, value);
      }
    }

    String bootstrap = v.get("--bootstrap");
    if (bootstrap == null || bootstrap.isBlank()) {
      throw new UsageException("--bootstrap (or IOT_BOOTSTRAP) is required");
    }
    String topic = v.get("--topic");
    if (topic.isBlank()) {
      throw new UsageException("--topic must not be empty");
    }
    String runId = v.get("--run-id");
    if (runId == null) {
      byte[] b = new byte[4];
      new SecureRandom().nextBytes(b);
      runId = HexFormat.of().formatHex(b);
    } else if (!RUN_ID.matcher(runId).matches()) {
      throw new UsageException("--run-id must be 1-64 characters of A-Z a-z 0-9 . _ -, got '" + runId + "'");
    }
    return new GeneratorOptions(
        bootstrap.trim(),
        topic,
        (int) number(v, "--rate", 1, 1_000_000),
        number(v, "--count", 0, Long.MAX_VALUE),
        runId,
        (int) number(v, "--vehicles", 1, 100_000),
        (int) number(v, "--routes", 1, 1_000),
        number(v, "--seed", Long.MIN_VALUE, Long.MAX_VALUE),
        v.get("--kafka-config") == null || v.get("--kafka-config").isBlank() ? null : v.get("--kafka-config"),
        false);
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

  public boolean burst() {
    return count > 0;
  }
}
