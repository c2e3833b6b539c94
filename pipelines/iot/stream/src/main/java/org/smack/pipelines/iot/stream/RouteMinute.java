package org.smack.pipelines.iot.stream;

import java.time.Instant;

/** A partition key of positions_by_route_minute and a row key of route_minute. */
public record RouteMinute(String routeId, Instant minute) {}
