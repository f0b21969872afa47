import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AppMetrics } from './app-metrics.js';

/** The route label of a request that matched no route (unknown paths, and those refused before routing, such as a 415). */
export const UNROUTED = 'unrouted';

/**
 * Times every HTTP request from its arrival to the end of its answer, labelled by method, route
 * template (`/api/v1/chat/conversations/:id`, never the path itself, which would make a series
 * per id) and status code; `aborted` when the client went away before the answer was complete.
 */
export function httpMetricsMiddleware(metrics: AppMetrics): RequestHandler {
  const duration = metrics.histogram(
    'http_request_duration_seconds',
    'HTTP requests by method, route template and status code, from arrival to the end of the answer',
    ['method', 'route', 'status_code'],
  );
  return (request: Request, response: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    response.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const path = (request.route as { path?: unknown } | undefined)?.path;
      // Wildcard routes are Nest's 404 handlers (`/api{/*splat}`), not routes of the API.
      const route = typeof path === 'string' && !path.includes('*') ? path : undefined;
      duration.observe(
        {
          method: request.method,
          route: route === undefined ? UNROUTED : `${request.baseUrl}${route}`,
          status_code: response.writableFinished ? String(response.statusCode) : 'aborted',
        },
        seconds,
      );
    });
    next();
  };
}
