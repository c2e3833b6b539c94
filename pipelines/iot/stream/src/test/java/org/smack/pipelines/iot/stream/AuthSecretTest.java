package org.smack.pipelines.iot.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Map;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

class AuthSecretTest {

  @Test
  void aClusterModeDriverTakesTheSecretFromItsEnvironment() {
    SparkConf conf = new SparkConf(false).set("spark.authenticate", "true");
    StreamJob.withAuthSecretFromEnvironment(conf, Map.of(StreamJob.AUTH_SECRET_ENV, "s3cret"));
    assertEquals("s3cret", conf.get("spark.authenticate.secret"));
  }

  @Test
  void aSecretInTheConfigurationWins() {
    SparkConf conf = new SparkConf(false).set("spark.authenticate", "true")
        .set("spark.authenticate.secret", "from-conf");
    StreamJob.withAuthSecretFromEnvironment(conf, Map.of(StreamJob.AUTH_SECRET_ENV, "from-env"));
    assertEquals("from-conf", conf.get("spark.authenticate.secret"));
  }

  @Test
  void nothingWithoutAuthenticationOrSecret() {
    SparkConf off = new SparkConf(false);
    StreamJob.withAuthSecretFromEnvironment(off, Map.of(StreamJob.AUTH_SECRET_ENV, "s3cret"));
    assertFalse(off.contains("spark.authenticate.secret"));
    SparkConf on = new SparkConf(false).set("spark.authenticate", "true");
    StreamJob.withAuthSecretFromEnvironment(on, Map.of());
    assertFalse(on.contains("spark.authenticate.secret"));
  }
}
