package org.smack.pipelines.iot.stream;

import org.apache.spark.sql.SparkSession;

/** One local SparkSession for all tests in the JVM: starting one takes seconds. */
final class LocalSpark {

  private static SparkSession session;

  private LocalSpark() {}

  static synchronized SparkSession get() {
    if (session == null) {
      session = SparkSession.builder()
          .master("local[2]")
          .appName("iot-stream-test")
          .config("spark.ui.enabled", "false")
          .config("spark.sql.shuffle.partitions", "2")
          .config("spark.sql.session.timeZone", "UTC")
          // As StreamJob sets it with --ready-file: the first idle trigger is reported within 1 s.
          .config("spark.sql.streaming.noDataProgressEventInterval", "1s")
          .getOrCreate();
    }
    return session;
  }
}
