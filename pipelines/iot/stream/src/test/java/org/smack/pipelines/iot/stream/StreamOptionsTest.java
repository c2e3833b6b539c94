package org.smack.pipelines.iot.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class StreamOptionsTest {

  private static String error(String... args) {
    return assertThrows(StreamOptions.UsageException.class, () -> StreamOptions.parse(args)).getMessage();
  }

  @Test
  void defaults() throws Exception {
    StreamOptions o = StreamOptions.parse(new String[] {"--bootstrap", "k1:9092,k2:9092", "--checkpoint", "/var/ckpt/"});
    assertEquals("k1:9092,k2:9092", o.bootstrap());
    assertEquals("iot.vehicle-positions", o.topic());
    assertEquals("iot", o.keyspace());
    assertEquals("/var/ckpt/positions", o.positionsCheckpoint());
    assertEquals("earliest", o.startingOffsets());
    assertEquals(5, o.triggerSeconds());
    assertEquals(0, o.stopAfter());
    assertFalse(o.verify());
    assertEquals(300, o.timeoutSeconds());
    assertNull(o.readyFile());
    assertFalse(o.help());
  }

  @Test
  void everyFlag() throws Exception {
    StreamOptions o = StreamOptions.parse(new String[] {
        "--bootstrap=k:9092", "--topic", "t", "--keyspace", "iot_test", "--checkpoint", "hdfs:///c",
        "--starting-offsets", "latest", "--trigger-seconds", "2",
        "--stop-after", "1000", "--timeout-seconds", "60", "--ready-file", "/w/ready"});
    assertEquals("k:9092", o.bootstrap());
    assertEquals("t", o.topic());
    assertEquals("iot_test", o.keyspace());
    assertEquals("hdfs:///c/positions", o.positionsCheckpoint());
    assertEquals("latest", o.startingOffsets());
    assertEquals(2, o.triggerSeconds());
    assertEquals(1000, o.stopAfter());
    assertTrue(o.verify());
    assertEquals(60, o.timeoutSeconds());
    assertEquals("/w/ready", o.readyFile());
  }

  @Test
  void badInputIsAUsageError() {
    assertTrue(error("--checkpoint", "/c").contains("--bootstrap is required"));
    assertTrue(error("--bootstrap", "k:9092").contains("--checkpoint is required"));
    String[] ok = {"--bootstrap", "k:9092", "--checkpoint", "/c"};
    assertTrue(error(concat(ok, "--trigger-seconds", "0")).contains("--trigger-seconds must be between"));
    assertTrue(error(concat(ok, "--stop-after", "many")).contains("--stop-after must be an integer"));
    assertTrue(error(concat(ok, "--keyspace", "iot; DROP")).contains("--keyspace"));
    assertTrue(error(concat(ok, "--master", "local")).contains("unknown argument --master"));
    assertTrue(error(concat(ok, "--topic")).contains("--topic needs a value"));
    // The stateless job has no watermark any more.
    assertTrue(error(concat(ok, "--watermark-minutes", "10")).contains("unknown argument --watermark-minutes"));
  }

  @Test
  void help() throws Exception {
    assertTrue(StreamOptions.parse(new String[] {"--help"}).help());
    assertTrue(StreamOptions.USAGE.contains("--stop-after"));
  }

  private static String[] concat(String[] a, String... b) {
    String[] all = new String[a.length + b.length];
    System.arraycopy(a, 0, all, 0, a.length);
    System.arraycopy(b, 0, all, a.length, b.length);
    return all;
  }
}
