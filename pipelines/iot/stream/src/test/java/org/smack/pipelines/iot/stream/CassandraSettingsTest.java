package org.smack.pipelines.iot.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CassandraSettingsTest {

  @Test
  void theLoginGoesIntoTheConfUnlessTheSubmitterSetIt(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("cassandra.properties");
    Files.writeString(file, "spark.cassandra.auth.username=iot\nspark.cassandra.auth.password=pw\n"
        + "spark.cassandra.connection.ssl.enabled=true\n");
    SparkConf conf = new SparkConf(false).set("spark.cassandra.auth.username", "chosen");
    StreamJob.withCassandraSettings(conf, file.toString());
    assertEquals("chosen", conf.get("spark.cassandra.auth.username"));
    assertEquals("pw", conf.get("spark.cassandra.auth.password"));
    assertEquals("true", conf.get("spark.cassandra.connection.ssl.enabled"));
  }

  @Test
  void nothingButConnectorSettingsAndNoFileNoChange(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("bad.properties");
    Files.writeString(file, "spark.cassandra.auth.username=iot\nspark.master=local\n");
    SparkConf conf = new SparkConf(false);
    IOException refused = assertThrows(IOException.class,
        () -> StreamJob.withCassandraSettings(conf, file.toString()));
    assertTrue(refused.getMessage().contains("spark.master"), refused.getMessage());
    assertFalse(conf.contains("spark.cassandra.auth.username"));
    StreamJob.withCassandraSettings(conf, null);
    assertEquals(0, conf.getAll().length);
    assertThrows(IOException.class,
        () -> StreamJob.withCassandraSettings(conf, dir.resolve("absent").toString()));
  }
}
