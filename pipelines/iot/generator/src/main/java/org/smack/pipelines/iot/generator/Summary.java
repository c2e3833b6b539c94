package org.smack.pipelines.iot.generator;

import java.util.Locale;

/** The single stdout line of a burst run, read by scripts: keep the field names stable. */
public record Summary(
    String runId, String topic, long requested, long acked, double seconds, String firstError) {

  public long failed() {
    // Anything not acknowledged counts, including events never sent because the run stopped early.
    return requested - acked;
  }

  public boolean ok() {
    return acked == requested;
  }

  public String toJson() {
    double rate = seconds > 0 ? acked / seconds : 0.0;
    return String.format(Locale.ROOT,
        "{\"run_id\":%s,\"topic\":%s,\"requested\":%d,\"acked\":%d,\"failed\":%d,"
            + "\"seconds\":%.3f,\"events_per_second\":%.1f,\"first_error\":%s}",
        quote(runId), quote(topic), requested, acked, failed(), seconds, rate,
        firstError == null ? "null" : quote(firstError));
  }

  static String quote(String s) {
    StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    return sb.append('"').toString();
  }
}
