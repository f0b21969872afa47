import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { HttpStatus } from '@nestjs/common';
import { reasonPhrase } from '../errors/app-exceptions.js';
import { ErrorCode } from '../errors/error-codes.js';
import { assignRequestId } from '../logging/logger.options.js';

/** A route as Express holds it: the path matchers of its layer and the methods it serves. */
interface RouteEntry {
  matches(path: string): boolean;
  methods: Set<string>;
  /** Literal path segments: where routes overlap (`/conversations/export`, `/conversations/:id`), the most literal one names the resource. */
  literals: number;
}

interface ExpressLayer {
  matchers?: ((path: string) => unknown)[];
  route?: { path?: unknown; methods: Record<string, boolean> };
}

/**
 * A request whose path names a route but whose method none of that path's routes serves answers
 * 405 with `Allow` and the standard error body (`METHOD_NOT_ALLOWED`), instead of a 404 that would
 * say the path does not exist. OPTIONS on such a path answers 204 with `Allow` (CORS preflights
 * are answered earlier, by the CORS middleware). Paths no route matches go on to the 404.
 *
 * Registered before the routes, it reads the route table from the Express router once, on the
 * first request (the routes are all registered by then).
 */
export function methodNotAllowedMiddleware(app: NestExpressApplication): RequestHandler {
  let routes: RouteEntry[] | undefined;
  return (request: Request, response: Response, next: NextFunction): void => {
    routes ??= routeTable(app);
    const matching = routes.filter((route) => route.matches(request.path));
    const literals = Math.max(0, ...matching.map((route) => route.literals));
    const allowed = new Set(matching.filter((route) => route.literals === literals).flatMap((route) => [...route.methods]));
    const method = request.method.toUpperCase();
    // Express serves HEAD wherever it serves GET (load balancers and monitors probe with it).
    if (allowed.has('GET')) allowed.add('HEAD');
    if (allowed.size === 0 || allowed.has(method) || allowed.has('_ALL')) {
      next();
      return;
    }
    // Answered before the logger's middleware runs, so the correlation id is assigned here.
    assignRequestId(request, response);
    allowed.add('OPTIONS');
    const allow = [...allowed].sort().join(', ');
    response.setHeader('Allow', allow);
    if (method === 'OPTIONS') {
      response.status(HttpStatus.NO_CONTENT).end();
      return;
    }
    response.status(HttpStatus.METHOD_NOT_ALLOWED).json({
      statusCode: HttpStatus.METHOD_NOT_ALLOWED,
      error: reasonPhrase(HttpStatus.METHOD_NOT_ALLOWED),
      code: ErrorCode.METHOD_NOT_ALLOWED,
      message: `${method} is not allowed on ${request.path}; allowed: ${allow}`,
    });
  };
}

function routeTable(app: NestExpressApplication): RouteEntry[] {
  const instance = app.getHttpAdapter().getInstance() as { router?: { stack?: ExpressLayer[] } };
  const layers = instance.router?.stack ?? [];
  return layers.flatMap((layer) => {
    // Wildcard routes are Nest's module middleware and 404 handler (every method on `/api{/*splat}`),
    // not resources; no route of this API has a wildcard.
    if (!layer.route || !layer.matchers || (typeof layer.route.path === 'string' && layer.route.path.includes('*'))) return [];
    const matchers = layer.matchers;
    const path = typeof layer.route.path === 'string' ? layer.route.path : '';
    return [
      {
        matches: (path: string) => matchers.some((matcher) => Boolean(matcher(path))),
        methods: new Set(Object.keys(layer.route.methods).map((name) => name.toUpperCase())),
        literals: path.split('/').filter((segment) => segment !== '' && !segment.startsWith(':')).length,
      },
    ];
  });
}
