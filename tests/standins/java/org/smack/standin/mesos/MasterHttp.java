package org.smack.standin.mesos;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.Proxy;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** JSON POSTs to the master's /__standin__ endpoints (smack test stand-in, not Apache Mesos). */
final class MasterHttp {
    static final String PREFIX = "/__standin__";
    private static final int CONNECT_TIMEOUT_MILLIS = 3000;

    /** Status code and decoded JSON object (empty when the body was not a JSON object). */
    static final class Reply {
        final int status;
        final Map<String, Object> body;

        Reply(int status, Map<String, Object> body) {
            this.status = status;
            this.body = body;
        }

        String action() {
            Object action = body.get("action");
            return action == null ? "" : String.valueOf(action);
        }

        String message() {
            Object message = body.get("message");
            return message == null ? "" : String.valueOf(message);
        }
    }

    private MasterHttp() {}

    static Reply post(String host, int port, String path, Map<String, Object> body,
            int readTimeoutMillis) throws IOException {
        URL url = new URL("http", host, port, PREFIX + path);
        // NO_PROXY: the JVM may carry http.proxyHost settings meant for the job, not for us.
        HttpURLConnection conn = (HttpURLConnection) url.openConnection(Proxy.NO_PROXY);
        try {
            conn.setConnectTimeout(CONNECT_TIMEOUT_MILLIS);
            conn.setReadTimeout(readTimeoutMillis);
            conn.setRequestMethod("POST");
            conn.setInstanceFollowRedirects(false);
            conn.setUseCaches(false);
            conn.setDoOutput(true);
            conn.setRequestProperty("Content-Type", "application/json");
            conn.setRequestProperty("User-Agent", "smack-standin-scheduler-driver");
            byte[] data = Json.write(body).getBytes(StandardCharsets.UTF_8);
            // Fixed-length streaming also stops HttpURLConnection from silently re-sending a
            // POST (an accept must not launch twice) when a kept-alive socket turns out closed.
            conn.setFixedLengthStreamingMode(data.length);
            try (OutputStream out = conn.getOutputStream()) {
                out.write(data);
            }
            int status = conn.getResponseCode();
            InputStream in = status >= 400 ? conn.getErrorStream() : conn.getInputStream();
            return new Reply(status, decode(in));
        } finally {
            conn.disconnect();
        }
    }

    private static Map<String, Object> decode(InputStream in) throws IOException {
        Map<String, Object> out = new LinkedHashMap<>();
        if (in == null) {
            return out;
        }
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (InputStream body = in) {
            body.transferTo(buf);
        }
        String text = buf.toString(StandardCharsets.UTF_8).trim();
        if (text.isEmpty()) {
            return out;
        }
        try {
            Object parsed = Json.parse(text);
            if (parsed instanceof Map) {
                for (Map.Entry<?, ?> e : ((Map<?, ?>) parsed).entrySet()) {
                    out.put(String.valueOf(e.getKey()), e.getValue());
                }
            }
        } catch (IllegalArgumentException e) {
            // not JSON (an HTML error page of something else on that port): status decides
        }
        return out;
    }
}
