/*
 * libmesos-java.so -- smack TEST STAND-IN, not Apache Mesos.
 *
 * Spark's MesosSchedulerDriver (mesos-1.4.3-shaded-protobuf.jar) System.load()s the library
 * named by MESOS_NATIVE_JAVA_LIBRARY and calls its JNI natives. The real library drives
 * libprocess; this one hands every scheduler-driver native to ONE Java method,
 * org.smack.standin.mesos.StandinDriver.call(driver, method, args), from the driver jar
 * (tests/standins/java), which speaks the stand-in master's private protocol
 * (tests/standins/PROTOCOL.md). Keeping the logic in Java means no protobuf or HTTP code in C,
 * and the jar reaches Spark's relocated protobuf classes by reflection.
 *
 * The jar is loaded once, through a URLClassLoader whose parent is the loader of the driver's
 * class, so that reflection there sees the same org.apache.mesos.* classes as Spark.
 * SMACK_STANDIN_DRIVER_JAR overrides the compiled-in path (tests build the jar elsewhere).
 *
 * Custom executors (MesosExecutorDriver) are not supported: stand-in agents run command tasks.
 */

#include <jni.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

#ifndef SMACK_DRIVER_JAR
#define SMACK_DRIVER_JAR "/usr/lib/aventer-mesos-standin/mesos-standin-driver.jar"
#endif

#define DRIVER_CLASS "org.smack.standin.mesos.StandinDriver"
#define CALL_SIGNATURE "(Ljava/lang/Object;Ljava/lang/String;[Ljava/lang/Object;)Ljava/lang/Object;"
#define EXECUTOR_MESSAGE                                                               \
  "smack stand-in libmesos-java: custom executors are not supported; the stand-in agent " \
  "runs command tasks"

EXPORT const char *smack_standin_libmesos_version(void) {
  return "1.11.0 (smack test stand-in)";
}

struct target {
  jclass cls;      /* global ref to StandinDriver */
  jmethodID call;  /* its static call(Object, String, Object[]) */
};

/* Published once with a compare-and-swap: natives may race from several Java threads. */
static struct target *cached;

static void throw_new(JNIEnv *env, const char *cls_name, const char *message) {
  jclass cls = (*env)->FindClass(env, cls_name);
  if (cls != NULL) {
    (*env)->ThrowNew(env, cls, message);
  }
}

static const char *driver_jar(void) {
  const char *jar = getenv("SMACK_STANDIN_DRIVER_JAR");
  return (jar != NULL && jar[0] != '\0') ? jar : SMACK_DRIVER_JAR;
}

/* new URLClassLoader(new URL[] {new File(jar).toURI().toURL()}, parent); NULL + pending
 * exception on failure. */
static jobject new_loader(JNIEnv *env, const char *jar, jobject parent) {
  jclass file_cls = (*env)->FindClass(env, "java/io/File");
  if (file_cls == NULL) return NULL;
  jmethodID file_init = (*env)->GetMethodID(env, file_cls, "<init>", "(Ljava/lang/String;)V");
  jmethodID to_uri = (*env)->GetMethodID(env, file_cls, "toURI", "()Ljava/net/URI;");
  jclass uri_cls = (*env)->FindClass(env, "java/net/URI");
  if (file_init == NULL || to_uri == NULL || uri_cls == NULL) return NULL;
  jmethodID to_url = (*env)->GetMethodID(env, uri_cls, "toURL", "()Ljava/net/URL;");
  jclass url_cls = (*env)->FindClass(env, "java/net/URL");
  jclass loader_cls = (*env)->FindClass(env, "java/net/URLClassLoader");
  if (to_url == NULL || url_cls == NULL || loader_cls == NULL) return NULL;
  jmethodID loader_init = (*env)->GetMethodID(env, loader_cls, "<init>",
                                              "([Ljava/net/URL;Ljava/lang/ClassLoader;)V");
  jstring path = (*env)->NewStringUTF(env, jar);
  if (loader_init == NULL || path == NULL) return NULL;
  jobject file = (*env)->NewObject(env, file_cls, file_init, path);
  if (file == NULL) return NULL;
  jobject uri = (*env)->CallObjectMethod(env, file, to_uri);
  if ((*env)->ExceptionCheck(env)) return NULL;
  jobject url = (*env)->CallObjectMethod(env, uri, to_url);
  if ((*env)->ExceptionCheck(env)) return NULL;
  jobjectArray urls = (*env)->NewObjectArray(env, 1, url_cls, url);
  if (urls == NULL) return NULL;
  return (*env)->NewObject(env, loader_cls, loader_init, urls, parent);
}

static struct target *load_target(JNIEnv *env, jobject self) {
  struct target *found = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
  if (found != NULL) {
    return found;
  }
  const char *jar = driver_jar();
  if (access(jar, R_OK) != 0) {
    /* Clearer than the ClassNotFoundException the class loader would give. */
    char message[4096];
    snprintf(message, sizeof message,
             "smack stand-in libmesos-java: cannot read the scheduler driver jar %s "
             "(SMACK_STANDIN_DRIVER_JAR overrides the path)", jar);
    throw_new(env, "java/lang/IllegalStateException", message);
    return NULL;
  }
  jclass class_cls = (*env)->FindClass(env, "java/lang/Class");
  if (class_cls == NULL) return NULL;
  jmethodID get_loader =
      (*env)->GetMethodID(env, class_cls, "getClassLoader", "()Ljava/lang/ClassLoader;");
  jmethodID for_name = (*env)->GetStaticMethodID(
      env, class_cls, "forName", "(Ljava/lang/String;ZLjava/lang/ClassLoader;)Ljava/lang/Class;");
  if (get_loader == NULL || for_name == NULL) return NULL;
  jobject parent = (*env)->CallObjectMethod(env, (*env)->GetObjectClass(env, self), get_loader);
  if ((*env)->ExceptionCheck(env)) return NULL;
  jobject loader = new_loader(env, jar, parent);
  if (loader == NULL) return NULL;
  jstring name = (*env)->NewStringUTF(env, DRIVER_CLASS);
  if (name == NULL) return NULL;
  jobject cls = (*env)->CallStaticObjectMethod(env, class_cls, for_name, name, JNI_TRUE, loader);
  if ((*env)->ExceptionCheck(env)) return NULL;
  jmethodID call = (*env)->GetStaticMethodID(env, (jclass)cls, "call", CALL_SIGNATURE);
  if (call == NULL) return NULL;
  struct target *mine = malloc(sizeof *mine);
  if (mine == NULL) {
    throw_new(env, "java/lang/OutOfMemoryError", "smack stand-in libmesos-java");
    return NULL;
  }
  mine->cls = (jclass)(*env)->NewGlobalRef(env, cls);
  mine->call = call;
  if (mine->cls == NULL) {
    free(mine);
    return NULL;
  }
  struct target *expected = NULL;
  if (!__atomic_compare_exchange_n(&cached, &expected, mine, 0, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE)) {
    /* Another thread won: use its class, so all drivers share one StandinDriver. */
    (*env)->DeleteGlobalRef(env, mine->cls);
    free(mine);
    return expected;
  }
  return mine;
}

/* StandinDriver.call(self, method, {args...}); NULL with the Java exception pending. */
static jobject trampoline(JNIEnv *env, jobject self, const char *method, jsize argc,
                          const jobject *argv) {
  struct target *target = load_target(env, self);
  if (target == NULL) return NULL;
  jclass object_cls = (*env)->FindClass(env, "java/lang/Object");
  if (object_cls == NULL) return NULL;
  jobjectArray args = (*env)->NewObjectArray(env, argc, object_cls, NULL);
  if (args == NULL) return NULL;
  for (jsize i = 0; i < argc; i++) {
    (*env)->SetObjectArrayElement(env, args, i, argv[i]);
    if ((*env)->ExceptionCheck(env)) return NULL;
  }
  jstring name = (*env)->NewStringUTF(env, method);
  if (name == NULL) return NULL;
  jobject result = (*env)->CallStaticObjectMethod(env, target->cls, target->call, self, name, args);
  (*env)->DeleteLocalRef(env, args);
  (*env)->DeleteLocalRef(env, name);
  (*env)->DeleteLocalRef(env, object_cls);
  if ((*env)->ExceptionCheck(env)) return NULL;
  return result;
}

static jobject boxed_boolean(JNIEnv *env, jboolean value) {
  jclass cls = (*env)->FindClass(env, "java/lang/Boolean");
  if (cls == NULL) return NULL;
  jmethodID value_of = (*env)->GetStaticMethodID(env, cls, "valueOf", "(Z)Ljava/lang/Boolean;");
  if (value_of == NULL) return NULL;
  return (*env)->CallStaticObjectMethod(env, cls, value_of, value);
}

#define SCHED(name) Java_org_apache_mesos_MesosSchedulerDriver_##name

/* ----- org.apache.mesos.MesosSchedulerDriver ----------------------------------------- */

EXPORT void JNICALL SCHED(initialize)(JNIEnv *env, jobject self) {
  trampoline(env, self, "initialize", 0, NULL);
}

EXPORT void JNICALL SCHED(finalize)(JNIEnv *env, jobject self) {
  trampoline(env, self, "finalize", 0, NULL);
}

#define SCHED0(name)                                              \
  EXPORT jobject JNICALL SCHED(name)(JNIEnv *env, jobject self) { \
    return trampoline(env, self, #name, 0, NULL);                 \
  }
#define SCHED1(name)                                                       \
  EXPORT jobject JNICALL SCHED(name)(JNIEnv *env, jobject self, jobject a) { \
    jobject argv[1] = {a};                                                 \
    return trampoline(env, self, #name, 1, argv);                          \
  }
#define SCHED2(name)                                                                  \
  EXPORT jobject JNICALL SCHED(name)(JNIEnv *env, jobject self, jobject a, jobject b) { \
    jobject argv[2] = {a, b};                                                         \
    return trampoline(env, self, #name, 2, argv);                                     \
  }
#define SCHED3(name)                                                                   \
  EXPORT jobject JNICALL SCHED(name)(JNIEnv *env, jobject self, jobject a, jobject b,  \
                                     jobject c) {                                      \
    jobject argv[3] = {a, b, c};                                                       \
    return trampoline(env, self, #name, 3, argv);                                      \
  }

SCHED0(start)
SCHED0(abort)
SCHED0(join)
SCHED0(reviveOffers)
SCHED0(suppressOffers)
SCHED1(requestResources)
SCHED1(killTask)
SCHED1(acknowledgeStatusUpdate)
SCHED1(reconcileTasks)
SCHED2(declineOffer)
/* Short JNI name: serves launchTasks(OfferID, ...) and launchTasks(Collection, ...), which
 * both take three references; the Java side tells them apart by argument type. */
SCHED3(launchTasks)
SCHED3(acceptOffers)
SCHED3(sendFrameworkMessage)

EXPORT jobject JNICALL SCHED(stop)(JNIEnv *env, jobject self, jboolean failover) {
  jobject argv[1] = {boxed_boolean(env, failover)};
  if (argv[0] == NULL) return NULL;
  return trampoline(env, self, "stop", 1, argv);
}

/* ----- org.apache.mesos.MesosExecutorDriver ------------------------------------------ */

#define EXEC(name) Java_org_apache_mesos_MesosExecutorDriver_##name

EXPORT void JNICALL EXEC(initialize)(JNIEnv *env, jobject self) {
  (void)self;
  throw_new(env, "java/lang/UnsupportedOperationException", EXECUTOR_MESSAGE);
}

/* Runs on the finalizer thread for every driver, constructed or not: never throw. */
EXPORT void JNICALL EXEC(finalize)(JNIEnv *env, jobject self) {
  (void)env;
  (void)self;
}

#define UNUSED __attribute__((unused))
/* `params` is the whole parameter list: every executor native gets env and self. */
#define EXEC_UNSUPPORTED(name, params)                                               \
  EXPORT jobject JNICALL EXEC(name) params {                                         \
    throw_new(env, "java/lang/UnsupportedOperationException", EXECUTOR_MESSAGE);     \
    return NULL;                                                                     \
  }

EXEC_UNSUPPORTED(start, (JNIEnv *env, UNUSED jobject self))
EXEC_UNSUPPORTED(stop, (JNIEnv *env, UNUSED jobject self))
EXEC_UNSUPPORTED(abort, (JNIEnv *env, UNUSED jobject self))
EXEC_UNSUPPORTED(join, (JNIEnv *env, UNUSED jobject self))
EXEC_UNSUPPORTED(sendStatusUpdate, (JNIEnv *env, UNUSED jobject self, UNUSED jobject status))
EXEC_UNSUPPORTED(sendFrameworkMessage,
                 (JNIEnv *env, UNUSED jobject self, UNUSED jbyteArray data))

/* ----- org.apache.mesos.MesosNativeLibrary ------------------------------------------- */

EXPORT jobject JNICALL Java_org_apache_mesos_MesosNativeLibrary__1version(JNIEnv *env,
                                                                          jclass cls) {
  (void)cls;
  jclass version = (*env)->FindClass(env, "org/apache/mesos/MesosNativeLibrary$Version");
  if (version == NULL) return NULL;
  jmethodID init = (*env)->GetMethodID(env, version, "<init>", "(JJJ)V");
  if (init == NULL) return NULL;
  return (*env)->NewObject(env, version, init, (jlong)1, (jlong)11, (jlong)0);
}

/*
 * MesosNativeLibrary.load() never sets its own `loaded` flag: the real library does it here,
 * and MesosNativeLibrary.version() refuses to answer ("'libmesos' not loaded") until then.
 */
EXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
  (void)reserved;
  JNIEnv *env;
  if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) {
    return JNI_ERR;
  }
  jclass cls = (*env)->FindClass(env, "org/apache/mesos/MesosNativeLibrary");
  if (cls == NULL) {
    /* Loaded by someone other than MesosNativeLibrary: nothing to flag. */
    (*env)->ExceptionClear(env);
    return JNI_VERSION_1_8;
  }
  jfieldID loaded = (*env)->GetStaticFieldID(env, cls, "loaded", "Z");
  if (loaded == NULL) {
    (*env)->ExceptionClear(env);
    return JNI_VERSION_1_8;
  }
  (*env)->SetStaticBooleanField(env, cls, loaded, JNI_TRUE);
  return JNI_VERSION_1_8;
}
