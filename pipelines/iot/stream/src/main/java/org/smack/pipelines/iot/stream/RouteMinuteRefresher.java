package org.smack.pipelines.iot.stream;

import java.util.Collection;

/**
 * Recomputes route_minute for the given (route, minute) keys from positions_by_route_minute
 * and upserts the results. Returns only once every key is done; throws if any failed, so that
 * the micro-batch fails and is replayed. The job's implementation is {@link CqlRouteMinuteRefresher};
 * the tests use an in-memory one.
 */
@FunctionalInterface
public interface RouteMinuteRefresher {
  void refresh(Collection<RouteMinute> keys);
}
