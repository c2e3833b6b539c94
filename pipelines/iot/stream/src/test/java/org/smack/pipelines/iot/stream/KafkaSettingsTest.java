package org.smack.pipelines.iot.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KafkaSettingsTest {

  @Test
  void theClientFilesAreOptions() throws Exception {
    String[] base = {"--bootstrap", "k:9092", "--checkpoint", "/c"};
    assertNull(StreamOptions.parse(base).kafkaConfig());
    assertNull(StreamOptions.parse(base).cassandraConfig());
    String[] withConfig = {"--bootstrap", "k:9092", "--checkpoint", "/c", "--kafka-config", "/etc/k.properties",
        "--cassandra-config", "/etc/c.properties"};
    assertEquals("/etc/k.properties", StreamOptions.parse(withConfig).kafkaConfig());
    assertEquals("/etc/c.properties", StreamOptions.parse(withConfig).cassandraConfig());
  }

  @Test
  void everySettingIsPrefixedForTheKafkaSource(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("client.properties");
    Files.writeString(file, "security.protocol=SASL_SSL\nssl.truststore.type=PEM\n");
    assertEquals(Map.of("kafka.security.protocol", "SASL_SSL", "kafka.ssl.truststore.type", "PEM"),
        StreamJob.kafkaSettings(file.toString()));
    assertEquals(Map.of(), StreamJob.kafkaSettings(null));
    assertThrows(IOException.class, () -> StreamJob.kafkaSettings(dir.resolve("absent").toString()));
  }
}
