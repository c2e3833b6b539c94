package org.smack.standin.mesos;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Finds the leading master from the driver's `master` string (smack test stand-in, not Apache
 * Mesos), as libmesos' MasterDetector does: `host:port` (or `master@host:port`),
 * `zk://[user:pass@]host1:port1,host2:port2/path`, or `file:///path` holding either. In
 * ZooKeeper the leader is the `json.info_<sequence>` child with the lowest sequence; its data
 * is the MasterInfo JSON.
 */
final class MasterDetector {
    static final String LABEL = "json.info_";
    private static final int ZK_TIMEOUT_MILLIS = 5000;

    /** Where the leading master answers; `info` is its MasterInfo JSON when known. */
    static final class Leader {
        final String host;
        final int port;
        final Map<String, Object> info;

        Leader(String host, int port, Map<String, Object> info) {
            this.host = host;
            this.port = port;
            this.info = info;
        }

        @Override
        public String toString() {
            Object pid = info == null ? null : info.get("pid");
            return pid != null ? String.valueOf(pid) : host + ":" + port;
        }
    }

    /** A parsed zk:// URL. */
    static final class ZkUrl {
        final List<String[]> servers = new ArrayList<>();
        String auth; // "user:pass" for the digest scheme, or null
        String path;
    }

    private final String master;

    MasterDetector(String master) {
        this.master = master == null ? "" : master.trim();
        check(resolveFile(this.master));
    }

    /** `spec` with the password of a zk://user:pass@ URL masked, fit for messages. */
    static String redact(String spec) {
        return spec == null ? "" : spec.replaceAll("^(zk://[^:/@]*:)[^/@]*@", "$1****@");
    }

    /** Throws IllegalArgumentException for a master string no detector could use. */
    private static void check(String spec) {
        if (spec.startsWith("zk://")) {
            parseZk(spec);
        } else {
            parseHostPort(spec);
        }
    }

    Leader detect() throws IOException {
        String spec = resolveFile(master);
        if (spec.startsWith("zk://")) {
            return fromZooKeeper(parseZk(spec));
        }
        String[] hostPort = parseHostPort(spec);
        return new Leader(hostPort[0], Integer.parseInt(hostPort[1]), null);
    }

    private static String resolveFile(String spec) {
        if (!spec.startsWith("file://")) {
            return spec;
        }
        try {
            String path = spec.substring("file://".length());
            return new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.UTF_8).trim();
        } catch (IOException e) {
            throw new IllegalArgumentException("Failed to read " + spec + ": " + e);
        }
    }

    static String[] parseHostPort(String spec) {
        String s = spec.startsWith("master@") ? spec.substring("master@".length()) : spec;
        int colon = s.lastIndexOf(':');
        if (s.isEmpty() || s.contains("/") || colon <= 0 || colon == s.length() - 1) {
            throw new IllegalArgumentException("Failed to parse '" + redact(spec)
                    + "': expected host:port, zk://host:port/path or file:///path");
        }
        String port = s.substring(colon + 1);
        try {
            int value = Integer.parseInt(port);
            if (value <= 0 || value > 65535) {
                throw new NumberFormatException();
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    "Failed to parse '" + redact(spec) + "': bad port " + port);
        }
        return new String[] {s.substring(0, colon), port};
    }

    static ZkUrl parseZk(String spec) {
        String rest = spec.substring("zk://".length());
        int slash = rest.indexOf('/');
        if (slash <= 0) {
            throw new IllegalArgumentException("Failed to parse '" + redact(spec)
                    + "': a zk:// URL needs servers and a path");
        }
        ZkUrl url = new ZkUrl();
        String authority = rest.substring(0, slash);
        int at = authority.lastIndexOf('@');
        if (at >= 0) {
            url.auth = authority.substring(0, at);
            authority = authority.substring(at + 1);
        }
        url.path = rest.substring(slash);
        while (url.path.length() > 1 && url.path.endsWith("/")) {
            url.path = url.path.substring(0, url.path.length() - 1);
        }
        for (String server : authority.split(",")) {
            int colon = server.lastIndexOf(':');
            String host = colon > 0 ? server.substring(0, colon) : server;
            String port = colon > 0 ? server.substring(colon + 1) : "2181";
            if (host.isEmpty()) {
                throw new IllegalArgumentException(
                        "Failed to parse '" + redact(spec) + "': empty server");
            }
            try {
                Integer.parseInt(port);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(
                        "Failed to parse '" + redact(spec) + "': bad port");
            }
            url.servers.add(new String[] {host, port});
        }
        return url;
    }

    private static Leader fromZooKeeper(ZkUrl url) throws IOException {
        IOException last = null;
        for (String[] server : url.servers) {
            try (ZooKeeperClient zk = ZooKeeperClient.connect(
                    server[0], Integer.parseInt(server[1]), ZK_TIMEOUT_MILLIS)) {
                if (url.auth != null) {
                    zk.addAuth("digest", url.auth.getBytes(StandardCharsets.UTF_8));
                }
                return leaderIn(zk, url.path);
            } catch (ZooKeeperClient.ZooKeeperException e) {
                throw e; // the ensemble answered: another server would say the same
            } catch (IOException e) {
                last = e;
            }
        }
        throw last != null ? last : new IOException("no ZooKeeper server in the URL");
    }

    private static Leader leaderIn(ZooKeeperClient zk, String path) throws IOException {
        String best = null;
        long bestSequence = Long.MAX_VALUE;
        List<String> children;
        try {
            children = zk.getChildren(path);
        } catch (ZooKeeperClient.ZooKeeperException e) {
            if (e.code == ZooKeeperClient.NO_NODE) {
                throw new IOException("no master has registered in ZooKeeper at " + path);
            }
            throw e;
        }
        for (String child : children) {
            if (!child.startsWith(LABEL)) {
                continue;
            }
            try {
                long sequence = Long.parseLong(child.substring(LABEL.length()));
                if (sequence < bestSequence) {
                    bestSequence = sequence;
                    best = child;
                }
            } catch (NumberFormatException e) {
                continue;
            }
        }
        if (best == null) {
            throw new IOException("no leading master in ZooKeeper at " + path);
        }
        String node = (path.endsWith("/") ? path : path + "/") + best;
        String data = new String(zk.getData(node), StandardCharsets.UTF_8);
        Object parsed;
        try {
            parsed = Json.parse(data);
        } catch (IllegalArgumentException e) {
            parsed = null; // a legacy `info_` protobuf or garbage: retried like no leader
        }
        if (!(parsed instanceof Map)) {
            throw new IOException(node + " does not hold MasterInfo JSON");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> info = (Map<String, Object>) parsed;
        return leaderOf(info, node);
    }

    private static Leader leaderOf(Map<String, Object> info, String node) throws IOException {
        Object address = info.get("address");
        if (address instanceof Map) {
            Object ip = ((Map<?, ?>) address).get("ip");
            Object port = ((Map<?, ?>) address).get("port");
            if (ip != null && port instanceof Number) {
                return new Leader(String.valueOf(ip), ((Number) port).intValue(), info);
            }
        }
        Object pid = info.get("pid");
        if (pid != null) {
            try {
                String[] hostPort = parseHostPort(String.valueOf(pid).replaceFirst("^[^@]*@", ""));
                return new Leader(hostPort[0], Integer.parseInt(hostPort[1]), info);
            } catch (IllegalArgumentException e) {
                // fall through to the error below
            }
        }
        throw new IOException(node + ": MasterInfo has neither address.ip/port nor a pid");
    }
}
