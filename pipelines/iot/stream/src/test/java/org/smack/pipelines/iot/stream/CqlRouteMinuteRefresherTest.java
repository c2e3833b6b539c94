package org.smack.pipelines.iot.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.datastax.oss.driver.api.core.DefaultConsistencyLevel;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

/** What can be checked without a Cassandra: the statements and the consistency levels. */
class CqlRouteMinuteRefresherTest {

  @Test
  void statements() {
    assertEquals("SELECT count(*), avg(speed_kmh) FROM iot.positions_by_route_minute "
        + "WHERE route_id = ? AND minute = ?", CqlRouteMinuteRefresher.selectCql("iot"));
    assertEquals("INSERT INTO iot.route_minute (route_id, minute, events, avg_speed_kmh) VALUES (?, ?, ?, ?)",
        CqlRouteMinuteRefresher.insertCql("iot"));
  }

  @Test
  void consistencyFromSparkConfQuorumByDefault() {
    SparkConf conf = new SparkConf(false);
    assertEquals(DefaultConsistencyLevel.QUORUM,
        CqlRouteMinuteRefresher.consistency(conf, CqlRouteMinuteRefresher.INPUT_CONSISTENCY));
    conf.set(CqlRouteMinuteRefresher.OUTPUT_CONSISTENCY, "local_quorum");
    assertEquals(DefaultConsistencyLevel.LOCAL_QUORUM,
        CqlRouteMinuteRefresher.consistency(conf, CqlRouteMinuteRefresher.OUTPUT_CONSISTENCY));
    conf.set(CqlRouteMinuteRefresher.INPUT_CONSISTENCY, "MOST");
    assertThrows(IllegalArgumentException.class,
        () -> CqlRouteMinuteRefresher.consistency(conf, CqlRouteMinuteRefresher.INPUT_CONSISTENCY));
  }
}
