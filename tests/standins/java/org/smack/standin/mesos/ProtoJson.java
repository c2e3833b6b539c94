package org.smack.standin.mesos;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Protobuf messages to and from the JSON of PROTOCOL.md (smack test stand-in, not Apache Mesos).
 *
 * <p>Works on the generic Message API by reflection (field descriptors, builders), so the same
 * code serves whatever package protobuf was relocated to. Field names are the v0 mesos.proto
 * names, enums travel as their names, bytes as base64, as in Mesos' own JSON. JSON the proto
 * does not know (newer fields or enum values than the 1.4.3 protos Spark bundles) is dropped,
 * as a protobuf parser keeps unknown fields out of the typed view.
 */
final class ProtoJson {
    private ProtoJson() {}

    // ----- message -> JSON ----------------------------------------------------------------

    static Map<String, Object> toJson(Object message) {
        Map<String, Object> out = new LinkedHashMap<>();
        Map<?, ?> fields = (Map<?, ?>) Reflect.call(message, "getAllFields");
        for (Map.Entry<?, ?> entry : fields.entrySet()) {
            Object fd = entry.getKey();
            String name = (String) Reflect.call(fd, "getName");
            if ((Boolean) Reflect.call(fd, "isRepeated")) {
                List<Object> items = new ArrayList<>();
                for (Object item : (Collection<?>) entry.getValue()) {
                    items.add(plain(fd, item));
                }
                out.put(name, items);
            } else {
                out.put(name, plain(fd, entry.getValue()));
            }
        }
        return out;
    }

    static List<Object> toJsonList(Collection<?> messages) {
        List<Object> out = new ArrayList<>();
        for (Object message : messages) {
            out.add(toJson(message));
        }
        return out;
    }

    private static Object plain(Object fd, Object value) {
        String javaType = Reflect.enumName(Reflect.call(fd, "getJavaType"));
        String type = Reflect.enumName(Reflect.call(fd, "getType"));
        switch (javaType) {
            case "MESSAGE":
                return toJson(value);
            case "ENUM":
                return Reflect.call(value, "getName");
            case "BYTE_STRING":
                byte[] bytes = (byte[]) Reflect.call(value, "toByteArray");
                return Base64.getEncoder().encodeToString(bytes);
            case "INT":
                // Java has no unsigned int: MasterInfo.ip (uint32) would come out negative.
                if (type.equals("UINT32") || type.equals("FIXED32")) {
                    return Integer.toUnsignedLong((Integer) value);
                }
                return value;
            case "LONG":
                if (type.equals("UINT64") || type.equals("FIXED64")) {
                    return new BigInteger(Long.toUnsignedString((Long) value));
                }
                return value;
            default:
                return value;
        }
    }

    // ----- JSON -> message ----------------------------------------------------------------

    /** A message of class `type` (e.g. org.apache.mesos.Protos$Offer) from its JSON. */
    static Object fromJson(Class<?> type, Object json) {
        Object builder = Reflect.callStatic(type, "newBuilder");
        if (json instanceof Map) {
            fill(builder, (Map<?, ?>) json);
        }
        // buildPartial: a peer that leaves out a required field should not cost the scheduler
        // the whole event; the real driver would have dropped such a message with a warning.
        return Reflect.call(builder, "buildPartial");
    }

    private static void fill(Object builder, Map<?, ?> json) {
        Object descriptor = Reflect.call(builder, "getDescriptorForType");
        for (Map.Entry<?, ?> entry : json.entrySet()) {
            Object fd = Reflect.call(descriptor, "findFieldByName", String.valueOf(entry.getKey()));
            if (fd == null || entry.getValue() == null) {
                continue;
            }
            if ((Boolean) Reflect.call(fd, "isRepeated")) {
                Collection<?> items = entry.getValue() instanceof Collection
                        ? (Collection<?>) entry.getValue()
                        : Collections.singletonList(entry.getValue());
                for (Object item : items) {
                    Object value = typed(builder, fd, item);
                    if (value != null) {
                        Reflect.call(builder, "addRepeatedField", fd, value);
                    }
                }
            } else {
                Object value = typed(builder, fd, entry.getValue());
                if (value != null) {
                    Reflect.call(builder, "setField", fd, value);
                }
            }
        }
    }

    /** The Java value protobuf wants for field `fd`, or null to leave the field out. */
    private static Object typed(Object builder, Object fd, Object value) {
        if (value == null) {
            return null;
        }
        String javaType = Reflect.enumName(Reflect.call(fd, "getJavaType"));
        try {
            switch (javaType) {
                case "MESSAGE": {
                    if (!(value instanceof Map)) {
                        return null;
                    }
                    Object sub = Reflect.call(builder, "newBuilderForField", fd);
                    fill(sub, (Map<?, ?>) value);
                    return Reflect.call(sub, "buildPartial");
                }
                case "ENUM": {
                    Object enumType = Reflect.call(fd, "getEnumType");
                    if (value instanceof Number) {
                        return Reflect.call(enumType, "findValueByNumber",
                                ((Number) value).intValue());
                    }
                    return Reflect.call(enumType, "findValueByName", String.valueOf(value));
                }
                case "INT":
                    return (int) integral(value).longValue();
                case "LONG":
                    return integral(value).longValue();
                case "FLOAT":
                    return decimal(value).floatValue();
                case "DOUBLE":
                    return decimal(value).doubleValue();
                case "BOOLEAN":
                    return value instanceof Boolean
                            ? value
                            : Boolean.valueOf(String.valueOf(value));
                case "STRING":
                    return String.valueOf(value);
                case "BYTE_STRING": {
                    byte[] bytes = Base64.getDecoder().decode(String.valueOf(value));
                    return Reflect.callStatic(byteString(fd), "copyFrom", (Object) bytes);
                }
                default:
                    return null;
            }
        } catch (NumberFormatException | ArithmeticException e) {
            return null;
        } catch (IllegalArgumentException e) {
            return null; // not base64
        }
    }

    private static BigInteger integral(Object value) {
        if (value instanceof Long || value instanceof Integer) {
            return BigInteger.valueOf(((Number) value).longValue());
        }
        if (value instanceof BigInteger) {
            return (BigInteger) value;
        }
        // 5.0 for an int field: accepted when exact, like Mesos' JSON parser.
        return new BigDecimal(String.valueOf(value).trim()).toBigIntegerExact();
    }

    private static BigDecimal decimal(Object value) {
        if (value instanceof Double) {
            return BigDecimal.valueOf((Double) value);
        }
        return new BigDecimal(String.valueOf(value).trim());
    }

    /** protobuf's ByteString, next to Descriptors in whatever package protobuf lives. */
    private static Class<?> byteString(Object fd) {
        Class<?> descriptors = fd.getClass().getEnclosingClass();
        String pkg = descriptors.getName().substring(0, descriptors.getName().lastIndexOf('.'));
        return Reflect.load(pkg + ".ByteString", fd.getClass().getClassLoader());
    }
}
