package org.smack.pipelines.iot.generator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

class SummaryTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void successfulRun() throws Exception {
    Summary s = new Summary("ab12cd34", "iot.vehicle-positions", 1000, 1000, 2.0, null);
    assertTrue(s.ok());
    JsonNode n = JSON.readTree(s.toJson());
    assertEquals("ab12cd34", n.get("run_id").textValue());
    assertEquals("iot.vehicle-positions", n.get("topic").textValue());
    assertEquals(1000, n.get("requested").longValue());
    assertEquals(1000, n.get("acked").longValue());
    assertEquals(0, n.get("failed").longValue());
    assertEquals(2.0, n.get("seconds").doubleValue(), 1e-9);
    assertEquals(500.0, n.get("events_per_second").doubleValue(), 1e-9);
    assertTrue(n.get("first_error").isNull());
    assertEquals(8, n.size());
    assertFalse(s.toJson().contains("\n"));
  }

  @Test
  void failedRunQuotesTheError() throws Exception {
    Summary s = new Summary("r", "t", 10, 4, 0.5, "Timeout: \"metadata\"\nnot\\found");
    assertFalse(s.ok());
    JsonNode n = JSON.readTree(s.toJson());
    assertEquals(6, n.get("failed").longValue());
    assertEquals("Timeout: \"metadata\"\nnot\\found", n.get("first_error").textValue());
  }
}
