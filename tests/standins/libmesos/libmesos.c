/*
 * libmesos.so -- smack TEST STAND-IN, not Apache Mesos.
 *
 * The real clusterd build ships libmesos.so WITHOUT Java (JNI) entry points and the Java
 * bindings in a library of their own, libmesos-java.so (issue 13; libmesos_java.c is the
 * stand-in's). A deployer that points MESOS_NATIVE_JAVA_LIBRARY at this file must fail the way
 * it fails with the real one: Marathon exits 107 ("'libmesos' not loaded"), Spark drivers die
 * with UnsatisfiedLinkError, and a symbol check finds no Java_org_apache_mesos_* function.
 */

#define EXPORT __attribute__((visibility("default")))

EXPORT const char *smack_standin_libmesos_version(void) {
  return "1.11.0 (smack test stand-in)";
}
