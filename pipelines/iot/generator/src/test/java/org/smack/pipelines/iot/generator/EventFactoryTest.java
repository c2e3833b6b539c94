package org.smack.pipelines.iot.generator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Iterator;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class EventFactoryTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void jsonHasEveryFieldWithItsType() throws Exception {
    EventFactory f = new EventFactory("ab12cd34", 7, 50, 12);
    JsonNode n = JSON.readTree(f.event(1234).toJson(1733300000123L));

    Set<String> names = new TreeSet<>();
    for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
      names.add(it.next());
    }
    assertEquals(new TreeSet<>(Set.of("event_id", "vehicle_id", "route_id", "lat", "lon", "speed_kmh", "event_time")), names);
    assertEquals("ab12cd34-1234", n.get("event_id").textValue());
    assertEquals("bus-0034", n.get("vehicle_id").textValue());
    assertEquals("route-10", n.get("route_id").textValue());
    assertTrue(n.get("lat").isNumber() && n.get("lon").isNumber() && n.get("speed_kmh").isNumber());
    assertTrue(n.get("event_time").isIntegralNumber());
    assertEquals(1733300000123L, n.get("event_time").longValue());
  }

  @Test
  void idsStayWithinTheConfiguredCounts() {
    int vehicles = 7;
    int routes = 3;
    EventFactory f = new EventFactory("run", 1, vehicles, routes);
    Set<String> seenVehicles = new TreeSet<>();
    Set<String> seenRoutes = new TreeSet<>();
    for (long seq = 0; seq < 10_000; seq++) {
      EventFactory.Event e = f.event(seq);
      assertEquals("run-" + seq, e.eventId());
      int v = Integer.parseInt(e.vehicleId().substring("bus-".length()));
      int r = Integer.parseInt(e.routeId().substring("route-".length()));
      assertTrue(v >= 0 && v < vehicles, e.vehicleId());
      assertTrue(r >= 0 && r < routes, e.routeId());
      // A vehicle never changes route.
      assertEquals(EventFactory.routeId(v % routes), e.routeId());
      seenVehicles.add(e.vehicleId());
      seenRoutes.add(e.routeId());
    }
    assertEquals(vehicles, seenVehicles.size());
    assertEquals(routes, seenRoutes.size());
  }

  @Test
  void positionsAndSpeedsStayWithinBounds() {
    double maxLat = EventFactory.MAX_RADIUS_KM / 111.32;
    double maxLon = EventFactory.MAX_RADIUS_KM / (111.32 * Math.cos(Math.toRadians(EventFactory.CENTRE_LAT)));
    for (long seed : new long[] {0, 1, 42, -5}) {
      EventFactory f = new EventFactory("run", seed, 50, 12);
      for (long seq = 0; seq < 200_000; seq += 7) {
        EventFactory.Event e = f.event(seq);
        assertTrue(Math.abs(e.lat() - EventFactory.CENTRE_LAT) <= maxLat, "lat " + e.lat());
        assertTrue(Math.abs(e.lon() - EventFactory.CENTRE_LON) <= maxLon, "lon " + e.lon());
        assertTrue(e.speedKmh() >= 0 && e.speedKmh() <= EventFactory.MAX_SPEED_KMH, "speed " + e.speedKmh());
      }
    }
  }

  @Test
  void vehiclesMoveNoFurtherThanTheirTopSpeedAllows() {
    int vehicles = 5;
    EventFactory f = new EventFactory("run", 3, vehicles, 2);
    double kmPerDegLon = 111.32 * Math.cos(Math.toRadians(EventFactory.CENTRE_LAT));
    boolean moved = false;
    boolean stopped = false;
    for (long seq = 0; seq < 5_000; seq++) {
      EventFactory.Event a = f.event(seq);
      EventFactory.Event b = f.event(seq + vehicles);
      double km = Math.hypot((b.lat() - a.lat()) * 111.32, (b.lon() - a.lon()) * kmPerDegLon);
      // One simulated second apart: 60 km/h is 16.7 m.
      assertTrue(km <= 0.0167 + 1e-4, "jumped " + km + " km at seq " + seq);
      moved |= km > 0.005;
      stopped |= a.speedKmh() < 1.0;
    }
    assertTrue(moved && stopped, "vehicles should both drive and stop");
  }

  @Test
  void deterministicForSeedAndSeq() {
    EventFactory a = new EventFactory("run", 9, 50, 12);
    EventFactory b = new EventFactory("run", 9, 50, 12);
    EventFactory other = new EventFactory("run", 10, 50, 12);
    for (long seq : new long[] {0, 1, 49, 50, 12_345, 9_999_999_999L}) {
      assertEquals(a.event(seq), b.event(seq));
      assertEquals(a.event(seq).toJson(5), b.event(seq).toJson(5));
    }
    assertNotEquals(a.event(100), other.event(100));
  }
}
