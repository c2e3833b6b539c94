package org.smack.pipelines.iot.generator;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClientSettingsTest {

  @Test
  void kafkaConfigComesFromFlagOrEnvironment() throws Exception {
    assertNull(GeneratorOptions.parse(new String[] {"--bootstrap", "k:9092"}, Map.of()).kafkaConfig());
    assertEquals("/etc/x.properties", GeneratorOptions.parse(
        new String[] {"--bootstrap", "k:9092"}, Map.of("IOT_KAFKA_CONFIG", "/etc/x.properties")).kafkaConfig());
    assertEquals("/flag", GeneratorOptions.parse(
        new String[] {"--bootstrap", "k:9092", "--kafka-config", "/flag"},
        Map.of("IOT_KAFKA_CONFIG", "/env")).kafkaConfig());
  }

  @Test
  void settingsAreReadFromTheFile(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("client.properties");
    Files.writeString(file, "# comment\nsecurity.protocol=SASL_SSL\n"
        + "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        + "username=\"iot\" password=\"p=w\";\n");
    Map<String, String> settings = Generator.clientSettings(file.toString());
    assertEquals("SASL_SSL", settings.get("security.protocol"));
    assertTrue(settings.get("sasl.jaas.config").endsWith("password=\"p=w\";"));
    assertEquals(2, settings.size());
  }

  @Test
  void noFileNoSettingsAndAMissingFileIsAnError(@TempDir Path dir) {
    assertEquals(Map.of(), assertDoesNotThrow(() -> Generator.clientSettings(null)));
    assertThrows(IOException.class, () -> Generator.clientSettings(dir.resolve("absent").toString()));
  }
}
