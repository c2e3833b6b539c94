package org.smack.standin.mesos;

import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Reflection helpers (smack test stand-in, not Apache Mesos).
 *
 * <p>The driver jar is compiled without Mesos or protobuf on the class path, because Spark ships
 * protobuf relocated (org.apache.mesos.protobuf) and another build may relocate it elsewhere;
 * every call on those classes is therefore resolved at run time on the objects received.
 */
final class Reflect {
    // Per class (ClassValue), since Spark may load the same class names in several loaders.
    private static final ClassValue<Map<String, Method>> METHODS = new ClassValue<>() {
        @Override
        protected Map<String, Method> computeValue(Class<?> type) {
            return new ConcurrentHashMap<>();
        }
    };

    private Reflect() {}

    /** An exception thrown by reflected code, unwrapped so callers see the real cause. */
    static RuntimeException unwrap(Throwable e) {
        Throwable cause = e instanceof InvocationTargetException ? e.getCause() : e;
        if (cause instanceof RuntimeException) {
            return (RuntimeException) cause;
        }
        if (cause instanceof Error) {
            throw (Error) cause;
        }
        return new IllegalStateException(cause);
    }

    static Object call(Object target, String name, Object... args) {
        return invoke(target.getClass(), target, name, args);
    }

    static Object callStatic(Class<?> type, String name, Object... args) {
        return invoke(type, null, name, args);
    }

    private static Object invoke(Class<?> type, Object target, String name, Object[] args) {
        Method method = find(type, name, args);
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException | IllegalAccessException e) {
            throw unwrap(e);
        }
    }

    private static Method find(Class<?> type, String name, Object[] args) {
        StringBuilder key = new StringBuilder(name);
        for (Object arg : args) {
            key.append(',').append(arg == null ? "null" : arg.getClass().getName());
        }
        Map<String, Method> methods = METHODS.get(type);
        Method cached = methods.get(key.toString());
        if (cached != null) {
            return cached;
        }
        Method best = null;
        for (Method m : type.getMethods()) {
            if (!m.getName().equals(name) || m.getParameterCount() != args.length
                    || !accepts(m.getParameterTypes(), args)) {
                continue;
            }
            // Covariant-return bridges delegate to the real method: either one is right, the
            // real one is just the more direct call.
            if (best == null || (best.isBridge() && !m.isBridge())) {
                best = m;
            }
        }
        if (best == null) {
            throw new IllegalStateException("no method " + type.getName() + "." + name
                    + " for " + args.length + " argument(s)");
        }
        if (!Modifier.isPublic(best.getDeclaringClass().getModifiers())) {
            // e.g. ByteString's package-private subclasses: the method is public, its class
            // is not. Everything Spark loads sits in the unnamed module, so this is allowed.
            best.setAccessible(true);
        }
        methods.put(key.toString(), best);
        return best;
    }

    private static boolean accepts(Class<?>[] params, Object[] args) {
        for (int i = 0; i < params.length; i++) {
            Class<?> p = params[i];
            if (args[i] == null) {
                if (p.isPrimitive()) {
                    return false;
                }
            } else if (!box(p).isInstance(args[i])) {
                return false;
            }
        }
        return true;
    }

    private static Class<?> box(Class<?> p) {
        if (!p.isPrimitive()) {
            return p;
        }
        if (p == int.class) {
            return Integer.class;
        }
        if (p == long.class) {
            return Long.class;
        }
        if (p == boolean.class) {
            return Boolean.class;
        }
        if (p == double.class) {
            return Double.class;
        }
        if (p == float.class) {
            return Float.class;
        }
        if (p == short.class) {
            return Short.class;
        }
        if (p == byte.class) {
            return Byte.class;
        }
        return Character.class;
    }

    /** A private field of `target`'s class or one of its superclasses. */
    static Object field(Object target, String name) {
        for (Class<?> c = target.getClass(); c != null; c = c.getSuperclass()) {
            try {
                Field f = c.getDeclaredField(name);
                f.setAccessible(true);
                return f.get(target);
            } catch (NoSuchFieldException e) {
                continue;
            } catch (IllegalAccessException e) {
                throw unwrap(e);
            }
        }
        throw new IllegalStateException("no field " + name + " in " + target.getClass());
    }

    /** The declared type of a field (so the driver finds Mesos' own interface types). */
    static Class<?> fieldType(Class<?> type, String name) {
        for (Class<?> c = type; c != null; c = c.getSuperclass()) {
            try {
                return c.getDeclaredField(name).getType();
            } catch (NoSuchFieldException e) {
                continue;
            }
        }
        throw new IllegalStateException("no field " + name + " in " + type);
    }

    static Class<?> load(String name, ClassLoader loader) {
        try {
            return Class.forName(name, true, loader);
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("class " + name + " not found", e);
        }
    }

    static String enumName(Object value) {
        return ((Enum<?>) value).name();
    }
}
