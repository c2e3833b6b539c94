package org.smack.pipelines.iot.generator;

import java.util.Locale;
import java.util.Random;

/**
 * Simulated vehicle positions. Everything but {@code event_time} is a pure function of
 * (seed, vehicles, routes, seq), so a run can be reproduced and checked event by event.
 *
 * <p>Event {@code seq} belongs to vehicle {@code seq % vehicles}; that vehicle's own clock is
 * {@code seq / vehicles} simulated seconds, so at the default 50 events/s over 50 vehicles the
 * simulated time runs at wall-clock speed. Vehicle {@code v} drives route {@code v % routes}, a
 * closed loop of waypoints within about 8 km of the city centre. Its speed follows
 * {@code base * (1 + sin(w t + phase))}, which stays in [0, 2 * base] with base at most 30 km/h
 * (so 0-60 km/h, with regular stops), and whose integral has a closed form: the position for
 * any seq is computed directly, without replaying earlier events.
 */
public final class EventFactory {

  public static final double CENTRE_LAT = 52.5200;
  public static final double CENTRE_LON = 13.4050;
  public static final double MAX_SPEED_KMH = 60.0;
  /** No waypoint is further than this from the centre (route centre offset + largest radius). */
  public static final double MAX_RADIUS_KM = 2.0 + 5.0 * 1.2;

  private static final int WAYPOINTS = 10;
  private static final double KM_PER_DEG_LAT = 111.32;
  private static final double KM_PER_DEG_LON = KM_PER_DEG_LAT * Math.cos(Math.toRadians(CENTRE_LAT));

  /** One event without its timestamp. */
  public record Event(String eventId, String vehicleId, String routeId, double lat, double lon, double speedKmh) {

    /** The Kafka record value; eventTime is epoch milliseconds. */
    public String toJson(long eventTime) {
      // Ids are plain ASCII by construction (see GeneratorOptions.RUN_ID), so no escaping is needed.
      return String.format(Locale.ROOT,
          "{\"event_id\":\"%s\",\"vehicle_id\":\"%s\",\"route_id\":\"%s\","
              + "\"lat\":%.6f,\"lon\":%.6f,\"speed_kmh\":%.1f,\"event_time\":%d}",
          eventId, vehicleId, routeId, lat, lon, speedKmh, eventTime);
    }
  }

  /** A closed loop, in km east/north of the centre, with cumulative distances for lookups. */
  private record Route(double[] x, double[] y, double[] cumulative, double length) {}

  private final String runId;
  private final int vehicles;
  private final Route[] routes;
  private final double[] base;
  private final double[] omega;
  private final double[] phase;
  private final double[] startKm;

  public EventFactory(String runId, long seed, int vehicles, int routeCount) {
    this.runId = runId;
    this.vehicles = vehicles;
    this.routes = new Route[routeCount];
    for (int r = 0; r < routeCount; r++) {
      routes[r] = route(new Random(seed * 1_000_003L + r));
    }
    base = new double[vehicles];
    omega = new double[vehicles];
    phase = new double[vehicles];
    startKm = new double[vehicles];
    for (int v = 0; v < vehicles; v++) {
      // A different stream from the routes' so that adding routes does not change the vehicles.
      Random rnd = new Random(~seed * 998_244_353L + v);
      base[v] = 15.0 + rnd.nextDouble() * 15.0;
      omega[v] = 2 * Math.PI / (60.0 + rnd.nextDouble() * 120.0);
      phase[v] = rnd.nextDouble() * 2 * Math.PI;
      startKm[v] = rnd.nextDouble() * routes[v % routeCount].length;
    }
  }

  private static Route route(Random rnd) {
    double cx = (rnd.nextDouble() * 2 - 1) * 2.0 / Math.sqrt(2);
    double cy = (rnd.nextDouble() * 2 - 1) * 2.0 / Math.sqrt(2);
    double rx = 1.5 + rnd.nextDouble() * 3.5;
    double ry = 1.5 + rnd.nextDouble() * 3.5;
    double[] x = new double[WAYPOINTS + 1];
    double[] y = new double[WAYPOINTS + 1];
    for (int i = 0; i < WAYPOINTS; i++) {
      double a = 2 * Math.PI * i / WAYPOINTS;
      double jitter = 0.8 + rnd.nextDouble() * 0.4;
      x[i] = cx + rx * jitter * Math.cos(a);
      y[i] = cy + ry * jitter * Math.sin(a);
    }
    x[WAYPOINTS] = x[0];
    y[WAYPOINTS] = y[0];
    double[] cumulative = new double[WAYPOINTS + 1];
    for (int i = 1; i <= WAYPOINTS; i++) {
      cumulative[i] = cumulative[i - 1] + Math.hypot(x[i] - x[i - 1], y[i] - y[i - 1]);
    }
    return new Route(x, y, cumulative, cumulative[WAYPOINTS]);
  }

  public static String vehicleId(int v) {
    return String.format(Locale.ROOT, "bus-%04d", v);
  }

  public static String routeId(int r) {
    return String.format(Locale.ROOT, "route-%02d", r);
  }

  public Event event(long seq) {
    int v = (int) (seq % vehicles);
    int r = v % routes.length;
    double t = (double) (seq / vehicles);
    double theta = omega[v] * t + phase[v];

    double speed = Math.max(0.0, Math.min(MAX_SPEED_KMH, base[v] * (1 + Math.sin(theta))));
    // Integral of the speed from 0 to t, km/h * s -> km.
    double travelled = base[v] / 3600.0 * (t + (Math.cos(phase[v]) - Math.cos(theta)) / omega[v]);

    Route route = routes[r];
    double d = (startKm[v] + travelled) % route.length;
    int i = 1;
    while (i < WAYPOINTS && route.cumulative[i] <= d) {
      i++;
    }
    double segment = route.cumulative[i] - route.cumulative[i - 1];
    double f = segment == 0 ? 0 : (d - route.cumulative[i - 1]) / segment;
    double x = route.x[i - 1] + f * (route.x[i] - route.x[i - 1]);
    double y = route.y[i - 1] + f * (route.y[i] - route.y[i - 1]);

    return new Event(runId + "-" + seq, vehicleId(v), routeId(r),
        CENTRE_LAT + y / KM_PER_DEG_LAT, CENTRE_LON + x / KM_PER_DEG_LON, speed);
  }
}
