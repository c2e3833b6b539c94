package org.smack.examples.pekko;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * Serves "hello" on / and "ok" on /health, on the port Marathon hands the task in $PORT0
 * (8080 when run by hand). SIGTERM (Marathon killing the task) unbinds and stops cleanly.
 */
public final class Hello extends AllDirectives {

    private final AtomicLong greeted = new AtomicLong();
    private final String task;

    private Hello(String task) {
        this.task = task;
    }

    private Route routes() {
        return concat(
            path("health", () -> get(() -> complete("ok\n"))),
            pathEndOrSingleSlash(() -> get(() -> complete(
                "hello from pekko-hello (task " + task + ", greeting " + greeted.incrementAndGet() + ")\n")))
        );
    }

    public static void main(String[] args) {
        Map<String, String> env = System.getenv();
        int port = Integer.parseInt(env.getOrDefault("PORT0", "8080"));
        String task = env.getOrDefault("MESOS_TASK_ID", "local");
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "pekko-hello");
        Http.get(system)
            .newServerAt("0.0.0.0", port)
            .bind(new Hello(task).routes())
            .whenComplete((ServerBinding binding, Throwable failure) -> {
                if (failure != null) {
                    system.log().error("cannot listen on port {}: {}", port, failure.getMessage());
                    system.terminate();
                    System.exit(1);
                }
                binding.addToCoordinatedShutdown(Duration.ofSeconds(5), system);
                system.log().info("pekko-hello listening on {}", binding.localAddress());
            });
    }
}
