package org.smack.pipelines.iot.stream;

import java.util.Locale;

/** The single stdout line of a verify run, read by scripts: keep the field names stable. */
public record VerifySummary(
    long consumed, long written, long aggregated, long batches, double seconds,
    boolean timedOut, String error) {

  public boolean ok() {
    return !timedOut && error == null;
  }

  public String toJson() {
    return String.format(Locale.ROOT,
        "{\"consumed\":%d,\"written\":%d,\"aggregated\":%d,\"batches\":%d,\"seconds\":%.3f,"
            + "\"timed_out\":%b,\"error\":%s}",
        consumed, written, aggregated, batches, seconds, timedOut,
        error == null ? "null" : quote(error));
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
