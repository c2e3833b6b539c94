/*
 * libmesos.so -- smack TEST STAND-IN, not Apache Mesos.
 *
 * The real CMake-built clusterd libmesos exports no Java (JNI) entry points, so Spark's
 * MesosSchedulerDriver cannot load it (spark-on-mesos-notes.md). The stand-in package carries
 * that variant by default; built with -DSMACK_JNI it also exports the JNI entry points Spark
 * looks for, so a deployer's "does this libmesos have Java bindings?" check can be tested both
 * ways. The entry points only throw java.lang.UnsupportedOperationException: nothing here can
 * talk to a Mesos master.
 */

#define EXPORT __attribute__((visibility("default")))

EXPORT const char *smack_standin_libmesos_version(void) {
  return "1.11.0 (smack test stand-in)";
}

#ifdef SMACK_JNI
/*
 * Minimal JNI plumbing without jni.h: a JNIEnv is a pointer to a table of functions whose
 * fixed slots are defined by the JNI specification (FindClass = 6, ThrowNew = 14).
 */
typedef void *(*find_class_fn)(void **env, const char *name);
typedef int (*throw_new_fn)(void **env, void *clazz, const char *message);

static void unsupported(void **env, const char *what) {
  void **table = *(void ***)env;
  find_class_fn find_class = (find_class_fn)table[6];
  throw_new_fn throw_new = (throw_new_fn)table[14];
  void *clazz = find_class(env, "java/lang/UnsupportedOperationException");
  if (clazz != 0) {
    throw_new(env, clazz, what);
  }
}

#define JNI_STUB(cls, method)                                                            \
  EXPORT void Java_org_apache_mesos_##cls##_##method(void **env, void *self) {          \
    (void)self;                                                                          \
    unsupported(env, "smack stand-in libmesos: " #cls "." #method " cannot reach Mesos"); \
  }

JNI_STUB(MesosSchedulerDriver, initialize)
JNI_STUB(MesosSchedulerDriver, finalize)
JNI_STUB(MesosSchedulerDriver, start)
JNI_STUB(MesosSchedulerDriver, stop)
JNI_STUB(MesosSchedulerDriver, abort)
JNI_STUB(MesosSchedulerDriver, join)
JNI_STUB(MesosExecutorDriver, initialize)
JNI_STUB(MesosExecutorDriver, finalize)
JNI_STUB(MesosExecutorDriver, start)
JNI_STUB(MesosExecutorDriver, stop)
JNI_STUB(MesosExecutorDriver, abort)
JNI_STUB(MesosExecutorDriver, join)
#endif
