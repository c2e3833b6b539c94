package org.smack.pipelines.iot.stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

class EventsTest {

  /** The columns of the Kafka source that the job uses. */
  static final StructType KAFKA = new StructType()
      .add("value", DataTypes.BinaryType)
      .add("partition", DataTypes.IntegerType)
      .add("offset", DataTypes.LongType);

  static Row kafkaRow(String value, int partition, long offset) {
    return RowFactory.create(value.getBytes(StandardCharsets.UTF_8), partition, offset);
  }

  @Test
  void parsesGeneratorJsonAndDropsWhatCannotBeKeyed() {
    SparkSession spark = LocalSpark.get();
    Dataset<Row> kafka = spark.createDataFrame(List.of(
        kafkaRow("{\"event_id\":\"r1-0\",\"vehicle_id\":\"bus-0000\",\"route_id\":\"route-00\","
            + "\"lat\":52.52,\"lon\":13.40,\"speed_kmh\":31.5,\"event_time\":1733300000123}", 2, 41),
        // Whole numbers for doubles, and fields in another order, are still valid JSON for the schema.
        kafkaRow("{\"event_time\":1733300001000,\"speed_kmh\":0,\"lon\":13,\"lat\":52,"
            + "\"route_id\":\"route-01\",\"vehicle_id\":\"bus-0001\",\"event_id\":\"r1-1\"}", 0, 7),
        kafkaRow("not json", 0, 8),
        kafkaRow("{\"vehicle_id\":\"bus-0002\",\"route_id\":\"route-02\",\"event_time\":1}", 0, 9),
        kafkaRow("{\"event_id\":\"r1-3\",\"route_id\":\"route-02\"}", 0, 10)), KAFKA);

    Dataset<Row> parsed = Events.parse(kafka);
    assertArrayEquals(Events.POSITIONS_COLUMNS, parsed.columns());
    assertEquals(DataTypes.TimestampType, parsed.schema().apply("event_time").dataType());
    assertEquals(DataTypes.IntegerType, parsed.schema().apply("kafka_partition").dataType());
    assertEquals(DataTypes.LongType, parsed.schema().apply("kafka_offset").dataType());

    List<Row> rows = parsed.orderBy("event_id").collectAsList();
    assertEquals(2, rows.size());
    Row first = rows.get(0);
    assertEquals("r1-0", first.getAs("event_id"));
    assertEquals("bus-0000", first.getAs("vehicle_id"));
    assertEquals("route-00", first.getAs("route_id"));
    assertEquals(52.52, (double) first.getAs("lat"), 1e-12);
    assertEquals(13.40, (double) first.getAs("lon"), 1e-12);
    assertEquals(31.5, (double) first.getAs("speed_kmh"), 1e-12);
    assertEquals(Instant.ofEpochMilli(1733300000123L), ((Timestamp) first.getAs("event_time")).toInstant());
    assertEquals(2, (int) first.getAs("kafka_partition"));
    assertEquals(41L, (long) first.getAs("kafka_offset"));
    assertEquals(0.0, (double) rows.get(1).getAs("speed_kmh"), 0);
  }

  @Test
  void keysEventsByRouteAndUtcMinute() {
    SparkSession spark = LocalSpark.get();
    Dataset<Row> kafka = spark.createDataFrame(List.of(
        kafkaRow("{\"event_id\":\"a\",\"route_id\":\"route-00\",\"speed_kmh\":10,\"event_time\":1733300000123}", 0, 1),
        kafkaRow("{\"event_id\":\"b\",\"route_id\":\"route-00\",\"speed_kmh\":20,\"event_time\":1733300039999}", 0, 2),
        kafkaRow("{\"event_id\":\"c\",\"route_id\":\"route-00\",\"speed_kmh\":30,\"event_time\":1733300040000}", 0, 3),
        kafkaRow("{\"event_id\":\"d\",\"route_id\":\"route-01\",\"speed_kmh\":40,\"event_time\":1733300000000}", 0, 4)),
        KAFKA);

    Dataset<Row> byMinute = Events.byRouteMinute(Events.parse(kafka));
    assertArrayEquals(Events.POSITIONS_BY_ROUTE_MINUTE_COLUMNS, byMinute.columns());
    assertEquals(DataTypes.TimestampType, byMinute.schema().apply("minute").dataType());
    List<Row> rows = byMinute.orderBy("event_id").collectAsList();
    // 1733300000123 is 2024-12-04T08:13:20.123Z; 1733300040000 is 08:14:00Z exactly.
    assertEquals(Instant.parse("2024-12-04T08:13:00Z"), rows.get(0).getTimestamp(1).toInstant());
    assertEquals(Instant.parse("2024-12-04T08:13:00Z"), rows.get(1).getTimestamp(1).toInstant());
    assertEquals(Instant.parse("2024-12-04T08:14:00Z"), rows.get(2).getTimestamp(1).toInstant());
    assertEquals(20.0, rows.get(1).getDouble(3), 0);

    assertEquals(Set.of(
            new RouteMinute("route-00", Instant.parse("2024-12-04T08:13:00Z")),
            new RouteMinute("route-00", Instant.parse("2024-12-04T08:14:00Z")),
            new RouteMinute("route-01", Instant.parse("2024-12-04T08:13:00Z"))),
        Set.copyOf(Events.routeMinutes(byMinute)));
    assertEquals(3, Events.routeMinutes(byMinute).size());
  }
}
