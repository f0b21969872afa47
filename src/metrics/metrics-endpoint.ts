import { timingSafeEqual } from 'node:crypto';
import { HttpStatus } from '@nestjs/common';
import type { OpenAPIObject } from '@nestjs/swagger';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ErrorBody } from '../common/errors/app-exceptions.js';
import { reasonPhrase } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { assignRequestId } from '../common/logging/logger.options.js';
import type { AppMetrics } from './app-metrics.js';

/** Where Prometheus looks by default: outside `/api` and its versions. */
export const METRICS_PATH = '/metrics';

/**
 * `GET /metrics`, the Prometheus text exposition. Mounted on the HTTP server itself rather than as
 * a Nest route (which would also be served under a version prefix): no user JWT, no store needed.
 * With METRICS_TOKEN set, a scrape must send `Authorization: Bearer <METRICS_TOKEN>` (compared in
 * constant time); otherwise 401 with the API's error body.
 */
export function metricsEndpoint(metrics: AppMetrics, token: string | undefined): RequestHandler {
  const expected = token === undefined ? null : Buffer.from(token);
  return (request: Request, response: Response, next: NextFunction) => {
    assignRequestId(request, response);
    if (expected !== null) {
      const header = request.headers.authorization;
      const sent = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : '');
      if (sent.length !== expected.length || !timingSafeEqual(sent, expected)) {
        const body: ErrorBody = {
          statusCode: HttpStatus.UNAUTHORIZED,
          error: reasonPhrase(HttpStatus.UNAUTHORIZED),
          code: ErrorCode.UNAUTHORIZED,
          message: 'Send Authorization: Bearer <METRICS_TOKEN> to read the metrics',
        };
        response.status(HttpStatus.UNAUTHORIZED).json(body);
        return;
      }
    }
    metrics.exposition().then((text) => response.status(HttpStatus.OK).type(metrics.contentType).send(text), next);
  };
}

/** The route in the API document: it is served beside the API, not by a Nest controller. */
export function documentMetricsEndpoint(document: OpenAPIObject, tokenRequired: boolean): void {
  document.paths[METRICS_PATH] = {
    get: {
      operationId: 'metrics_scrape',
      tags: ['operations'],
      summary: 'Prometheus metrics (text exposition format)',
      description:
        'HTTP durations by route template and status, realtime connections and delivery latency, the store’s availability and round ' +
        'trip, jobs’ durations and last success, process figures (memory, CPU, event-loop lag); with CHAT_ENABLE_ANALYTICS on, also ' +
        'messages stored, reply duration and time to first token, reply failures and tokens, by provider and agent. ' +
        (tokenRequired
          ? 'This deployment sets METRICS_TOKEN: send `Authorization: Bearer <METRICS_TOKEN>` (not a user’s JWT).'
          : 'This deployment sets no METRICS_TOKEN: the route is open (keep it off public networks).'),
      security: [],
      responses: {
        '200': { description: 'The exposition.', content: { 'text/plain': { schema: { type: 'string' } } } },
        ...(tokenRequired
          ? {
              '401': {
                description: 'METRICS_TOKEN was not sent (code UNAUTHORIZED).',
                content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorResponseDto' } } },
              },
            }
          : {}),
      },
    },
  };
}
