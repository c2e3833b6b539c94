package org.smack.standin.mesos;

import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;

/**
 * glog-shaped stderr lines, like the ones libmesos writes from inside a scheduler's JVM (smack
 * test stand-in, not Apache Mesos): `I20260101 12:00:00.123456  4242 StandinDriver.java:97] ...`.
 */
final class GLog {
    static final String PREFIX = "smack stand-in scheduler driver: ";
    private static final DateTimeFormatter STAMP =
            DateTimeFormatter.ofPattern("yyyyMMdd HH:mm:ss.SSSSSS");

    private GLog() {}

    static void info(String message) {
        line('I', message);
    }

    static void warning(String message) {
        line('W', message);
    }

    static void error(String message) {
        line('E', message);
    }

    private static void line(char severity, String message) {
        // The caller's own file:line, as glog's source tag.
        StackTraceElement where = new Throwable().getStackTrace()[2];
        String text = String.format("%c%s %5d %s:%d] %s%s", severity,
                LocalDateTime.now().format(STAMP), Thread.currentThread().getId(),
                where.getFileName(), where.getLineNumber(), PREFIX, message);
        System.err.println(text);
    }
}
