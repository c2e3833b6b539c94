package org.smack.pipelines.iot.stream;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.date_trunc;
import static org.apache.spark.sql.functions.from_json;
import static org.apache.spark.sql.functions.timestamp_millis;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * The event format and the transformations of the job, kept free of sources and sinks so
 * the tests can drive them with in-memory data.
 */
public final class Events {

  private Events() {}

  /** The JSON value the generator writes; event_time is epoch milliseconds. */
  public static final StructType SCHEMA = new StructType()
      .add("event_id", DataTypes.StringType)
      .add("vehicle_id", DataTypes.StringType)
      .add("route_id", DataTypes.StringType)
      .add("lat", DataTypes.DoubleType)
      .add("lon", DataTypes.DoubleType)
      .add("speed_kmh", DataTypes.DoubleType)
      .add("event_time", DataTypes.LongType);

  /** Column names of the Cassandra tables; the job writes exactly these. */
  public static final String[] POSITIONS_COLUMNS = {
      "event_id", "vehicle_id", "route_id", "lat", "lon", "speed_kmh", "event_time",
      "kafka_partition", "kafka_offset"};
  public static final String[] POSITIONS_BY_ROUTE_MINUTE_COLUMNS = {"route_id", "minute", "event_id", "speed_kmh"};
  public static final String[] ROUTE_MINUTE_COLUMNS = {"route_id", "minute", "events", "avg_speed_kmh"};

  /**
   * Kafka source rows (value: binary, partition: int, offset: long) to one row per event with
   * the positions columns, event_time as a timestamp. Records that are not JSON or lack a key
   * field are dropped: a null primary key would fail every retry of the batch.
   */
  public static Dataset<Row> parse(Dataset<Row> kafkaRows) {
    return kafkaRows
        .select(
            from_json(col("value").cast("string"), SCHEMA).as("e"),
            col("partition").as("kafka_partition"),
            col("offset").as("kafka_offset"))
        .select(
            col("e.event_id").as("event_id"),
            col("e.vehicle_id").as("vehicle_id"),
            col("e.route_id").as("route_id"),
            col("e.lat").as("lat"),
            col("e.lon").as("lon"),
            col("e.speed_kmh").as("speed_kmh"),
            timestamp_millis(col("e.event_time")).as("event_time"),
            col("kafka_partition"),
            col("kafka_offset"))
        .where(col("event_id").isNotNull()
            .and(col("route_id").isNotNull())
            .and(col("event_time").isNotNull()));
  }

  /**
   * Parsed events to rows of positions_by_route_minute: the event keyed by its route and
   * event-time minute (event_time truncated to the minute; the job's session time zone is UTC).
   */
  public static Dataset<Row> byRouteMinute(Dataset<Row> events) {
    return events.select(
        col("route_id"),
        date_trunc("minute", col("event_time")).as("minute"),
        col("event_id"),
        col("speed_kmh"));
  }

  /** The distinct (route, minute) keys of byRouteMinute rows, collected to the driver. */
  public static List<RouteMinute> routeMinutes(Dataset<Row> byRouteMinute) {
    List<RouteMinute> keys = new ArrayList<>();
    for (Row r : byRouteMinute.select(col("route_id"), col("minute")).distinct().collectAsList()) {
      keys.add(new RouteMinute(r.getString(0), r.getTimestamp(1).toInstant()));
    }
    return keys;
  }
}
