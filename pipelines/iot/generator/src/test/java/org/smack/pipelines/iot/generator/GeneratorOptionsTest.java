package org.smack.pipelines.iot.generator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class GeneratorOptionsTest {

  private static GeneratorOptions parse(Map<String, String> env, String... args) throws Exception {
    return GeneratorOptions.parse(args, env);
  }

  private static String error(Map<String, String> env, String... args) {
    return assertThrows(GeneratorOptions.UsageException.class, () -> GeneratorOptions.parse(args, env)).getMessage();
  }

  @Test
  void defaults() throws Exception {
    GeneratorOptions o = parse(Map.of("IOT_BOOTSTRAP", "k1:9092"));
    assertEquals("k1:9092", o.bootstrap());
    assertEquals("iot.vehicle-positions", o.topic());
    assertEquals(50, o.rate());
    assertEquals(0, o.count());
    assertFalse(o.burst());
    assertEquals(50, o.vehicles());
    assertEquals(12, o.routes());
    assertTrue(o.runId().matches("[0-9a-f]{8}"), o.runId());
    assertFalse(o.help());
  }

  @Test
  void flagWinsOverEnvironment() throws Exception {
    Map<String, String> env = Map.of(
        "IOT_BOOTSTRAP", "env:9092", "IOT_TOPIC", "env-topic", "IOT_RATE", "7",
        "IOT_COUNT", "10", "IOT_RUN_ID", "envrun", "IOT_VEHICLES", "3", "IOT_ROUTES", "2");
    GeneratorOptions fromEnv = parse(env);
    assertEquals("env:9092", fromEnv.bootstrap());
    assertEquals("env-topic", fromEnv.topic());
    assertEquals(7, fromEnv.rate());
    assertEquals(10, fromEnv.count());
    assertTrue(fromEnv.burst());
    assertEquals("envrun", fromEnv.runId());
    assertEquals(3, fromEnv.vehicles());
    assertEquals(2, fromEnv.routes());

    GeneratorOptions o = parse(env, "--bootstrap", "flag:9092", "--topic=t2", "--rate", "100",
        "--count", "0", "--run-id", "r-1", "--vehicles", "9", "--routes", "4");
    assertEquals("flag:9092", o.bootstrap());
    assertEquals("t2", o.topic());
    assertEquals(100, o.rate());
    assertEquals(0, o.count());
    assertEquals("r-1", o.runId());
    assertEquals(9, o.vehicles());
    assertEquals(4, o.routes());
  }

  @Test
  void emptyVariableCountsAsUnset() throws Exception {
    GeneratorOptions o = parse(Map.of("IOT_BOOTSTRAP", "k:9092", "IOT_RATE", "", "IOT_RUN_ID", ""));
    assertEquals(50, o.rate());
    assertTrue(o.runId().matches("[0-9a-f]{8}"));
  }

  @Test
  void badInputIsAUsageError() {
    Map<String, String> none = Map.of();
    assertTrue(error(none).contains("--bootstrap"));
    assertTrue(error(none, "--bootstrap", "k:9092", "--rate", "fast").contains("--rate must be an integer"));
    assertTrue(error(none, "--bootstrap", "k:9092", "--rate", "0").contains("--rate must be between"));
    assertTrue(error(none, "--bootstrap", "k:9092", "--count", "-1").contains("--count"));
    assertTrue(error(none, "--bootstrap", "k:9092", "--vehicles", "0").contains("--vehicles"));
    assertTrue(error(none, "--bootstrap", "k:9092", "--run-id", "a b").contains("--run-id"));
    assertTrue(error(none, "--bootstrap", "k:9092", "--frobnicate", "1").contains("unknown argument --frobnicate"));
    assertTrue(error(none, "--bootstrap").contains("needs a value"));
    assertTrue(error(Map.of("IOT_BOOTSTRAP", "k:9092", "IOT_ROUTES", "x")).contains("--routes"));
  }

  @Test
  void help() throws Exception {
    assertTrue(parse(Map.of(), "--rate", "5", "--help").help());
    assertTrue(GeneratorOptions.usage().contains("IOT_BOOTSTRAP"));
  }
}
