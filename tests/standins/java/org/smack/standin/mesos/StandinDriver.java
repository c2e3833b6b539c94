package org.smack.standin.mesos;

import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * Entry point of the stand-in `libmesos-java.so` (smack TEST STAND-IN, not Apache Mesos).
 *
 * <p>Every JNI native of org.apache.mesos.MesosSchedulerDriver is a trampoline in
 * libmesos_java.c that calls {@link #call}; the real library would drive libprocess instead.
 * Here the driver speaks the stand-in master's private JSON protocol (tests/standins/PROTOCOL.md)
 * so that a real Spark job can run its executors as tasks on stand-in agents.
 */
public final class StandinDriver {
    // Weak keys: a driver Spark has dropped must not be kept alive by its bookkeeping.
    private static final Map<Object, Session> SESSIONS =
            Collections.synchronizedMap(new WeakHashMap<>());

    private StandinDriver() {}

    /**
     * Runs native `method` of `driver` with its arguments (booleans boxed); returns the
     * org.apache.mesos.Protos$Status for the Status-returning natives, null for the void ones.
     */
    public static Object call(Object driver, String method, Object[] args) {
        Object[] arguments = args == null ? new Object[0] : args;
        switch (method) {
            case "initialize":
                SESSIONS.put(driver, new Session(driver));
                return null;
            case "finalize": {
                Session session = SESSIONS.remove(driver);
                if (session != null) {
                    session.forget();
                }
                return null;
            }
            default: {
                // Absent only if initialize() failed or was bypassed: act as a fresh driver.
                Session session = SESSIONS.computeIfAbsent(driver, Session::new);
                return session.handle(driver, method, arguments);
            }
        }
    }
}
