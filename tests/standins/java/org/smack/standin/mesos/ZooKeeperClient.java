package org.smack.standin.mesos;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A minimal ZooKeeper 3.x client (smack test stand-in, not Apache Mesos): one session on one
 * plain socket, speaking the jute binary protocol for connect, addauth, getChildren, getData
 * and close. That is all leader detection needs, and it keeps the driver jar free of a
 * ZooKeeper dependency whose version would have to match whatever Spark brings.
 */
final class ZooKeeperClient implements Closeable {
    static final int NO_NODE = -101;
    static final int AUTH_FAILED = -115;

    private static final int OP_GET_DATA = 4;
    private static final int OP_GET_CHILDREN = 8;
    private static final int OP_AUTH = 100;
    private static final int OP_CLOSE = -11;
    private static final int XID_WATCH_EVENT = -1;
    private static final int XID_PING = -2;
    private static final int XID_AUTH = -4;
    private static final int MAX_PACKET = 4 * 1024 * 1024;

    /** A ZooKeeper error code answer (e.g. NO_NODE). */
    static final class ZooKeeperException extends IOException {
        private static final long serialVersionUID = 1L;
        final int code;

        ZooKeeperException(String what, int code) {
            super(what + ": ZooKeeper error " + code);
            this.code = code;
        }
    }

    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;
    private int xid = 1;

    private ZooKeeperClient(Socket socket) throws IOException {
        this.socket = socket;
        this.in = new DataInputStream(socket.getInputStream());
        this.out = new DataOutputStream(socket.getOutputStream());
    }

    static ZooKeeperClient connect(String host, int port, int timeoutMillis) throws IOException {
        Socket socket = new Socket();
        try {
            socket.connect(new InetSocketAddress(host, port), timeoutMillis);
            socket.setSoTimeout(timeoutMillis);
            socket.setTcpNoDelay(true);
            ZooKeeperClient client = new ZooKeeperClient(socket);
            client.handshake(timeoutMillis);
            return client;
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    private void handshake(int timeoutMillis) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        DataOutputStream req = new DataOutputStream(buf);
        req.writeInt(0); // protocol version
        req.writeLong(0); // last zxid seen
        req.writeInt(timeoutMillis * 3); // session timeout: outlives our few requests
        req.writeLong(0); // session id: a new session
        req.writeInt(16); // password of a new session: 16 zero bytes
        req.write(new byte[16]);
        req.writeBoolean(false); // not read-only
        send(buf.toByteArray());
        DataInputStream answer = receive();
        answer.readInt(); // protocol version
        int negotiated = answer.readInt();
        if (negotiated <= 0) {
            throw new IOException("ZooKeeper refused the session");
        }
    }

    void addAuth(String scheme, byte[] auth) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        DataOutputStream req = new DataOutputStream(buf);
        req.writeInt(XID_AUTH);
        req.writeInt(OP_AUTH);
        req.writeInt(0); // auth type
        writeString(req, scheme);
        req.writeInt(auth.length);
        req.write(auth);
        send(buf.toByteArray());
        reply(XID_AUTH, "addauth " + scheme);
    }

    List<String> getChildren(String path) throws IOException {
        int id = request(OP_GET_CHILDREN, path);
        DataInputStream answer = reply(id, "getChildren " + path);
        int count = answer.readInt();
        List<String> children = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            children.add(readString(answer));
        }
        return children;
    }

    byte[] getData(String path) throws IOException {
        int id = request(OP_GET_DATA, path);
        DataInputStream answer = reply(id, "getData " + path);
        int length = answer.readInt();
        if (length < 0) {
            return new byte[0];
        }
        byte[] data = new byte[length];
        answer.readFully(data);
        return data; // the Stat that follows is not needed
    }

    @Override
    public void close() {
        try {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            DataOutputStream req = new DataOutputStream(buf);
            req.writeInt(xid++);
            req.writeInt(OP_CLOSE);
            send(buf.toByteArray());
            // Closing the session at once frees the server from waiting out its timeout.
            receive();
        } catch (IOException e) {
            // The socket goes away below either way.
        } finally {
            try {
                socket.close();
            } catch (IOException e) {
                // nothing left to release
            }
        }
    }

    /** Sends a path request (getData/getChildren without a watch); returns its xid. */
    private int request(int op, String path) throws IOException {
        int id = xid++;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        DataOutputStream req = new DataOutputStream(buf);
        req.writeInt(id);
        req.writeInt(op);
        writeString(req, path);
        req.writeBoolean(false);
        send(buf.toByteArray());
        return id;
    }

    /** The body of the reply to `id`, after its header (xid, zxid, err). */
    private DataInputStream reply(int id, String what) throws IOException {
        while (true) {
            DataInputStream answer = receive();
            int got = answer.readInt();
            answer.readLong(); // zxid
            int err = answer.readInt();
            if (got == XID_PING || got == XID_WATCH_EVENT) {
                continue; // not ours: this session sets no watches and sends no pings
            }
            if (got != id) {
                throw new IOException("ZooKeeper answered xid " + got + " instead of " + id);
            }
            if (err != 0) {
                throw new ZooKeeperException(what, err);
            }
            return answer;
        }
    }

    private void send(byte[] packet) throws IOException {
        out.writeInt(packet.length);
        out.write(packet);
        out.flush();
    }

    private DataInputStream receive() throws IOException {
        int length = in.readInt();
        if (length < 0 || length > MAX_PACKET) {
            throw new IOException("bad ZooKeeper packet length " + length);
        }
        byte[] packet = new byte[length];
        in.readFully(packet);
        return new DataInputStream(new java.io.ByteArrayInputStream(packet));
    }

    private static void writeString(DataOutputStream out, String s) throws IOException {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    private static String readString(DataInputStream in) throws IOException {
        int length = in.readInt();
        if (length < 0) {
            return null;
        }
        byte[] bytes = new byte[length];
        in.readFully(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
