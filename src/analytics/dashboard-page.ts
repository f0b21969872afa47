import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Request, RequestHandler, Response } from 'express';
import { ErrorCode } from '../common/errors/error-codes.js';
import { ANALYTICS_DISABLED_MESSAGE } from './analytics-enabled.guard.js';

/** Where the dashboard page is served (beside the API, like /metrics). */
export const DASHBOARD_PATH = '/analytics';

const FILES: Record<string, { file: string; type: string }> = {
  '': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

/**
 * Nothing but this server's own files and API: a pasted token (held in the tab's session
 * storage) must not be readable by any script from elsewhere.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * GET /analytics (and its script and style sheet): the dashboard page, from `public/analytics`
 * (read once, at boot). With CHAT_ENABLE_ANALYTICS=false it answers 404 ANALYTICS_DISABLED as
 * the API routes do.
 */
export function dashboardPage(enabled: boolean): RequestHandler {
  const directory = join(projectRoot(), 'public', 'analytics');
  const contents = new Map(
    enabled ? Object.entries(FILES).map(([path, { file, type }]) => [path, { body: readFileSync(join(directory, file)), type }]) : [],
  );
  return (request: Request, response: Response) => {
    if (!enabled) {
      response
        .status(404)
        .json({ statusCode: 404, error: 'Not Found', code: ErrorCode.ANALYTICS_DISABLED, message: ANALYTICS_DISABLED_MESSAGE });
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      response.status(405).json({
        statusCode: 405,
        error: 'Method Not Allowed',
        code: ErrorCode.METHOD_NOT_ALLOWED,
        message: `${request.method} is not served here`,
      });
      return;
    }
    const found = contents.get(request.path === '/' ? '' : request.path.replace(/\/$/, ''));
    if (!found) {
      response
        .status(404)
        .json({ statusCode: 404, error: 'Not Found', code: ErrorCode.NOT_FOUND, message: `No page at ${DASHBOARD_PATH}${request.path}` });
      return;
    }
    response.setHeader('Content-Type', found.type);
    response.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.setHeader('Referrer-Policy', 'no-referrer');
    response.setHeader('Cache-Control', 'no-cache');
    response.end(found.body);
  };
}

/** The directory holding package.json, from src/ or dist/src/ alike. */
function projectRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(directory, 'package.json'))) {
    const parent = dirname(directory);
    if (parent === directory) return process.cwd();
    directory = parent;
  }
  return directory;
}
