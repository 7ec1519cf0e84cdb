/**
 * The admin console (README "Admin console"): a static page (./static) that connects
 * back to the router over WAMP WebSocket with autobahn's browser build, as a user of the
 * router like any other: its views call the meta API (wamp.session.*, wamp.subscription.*,
 * wamp.registration.*), the store procedures (gatehouse.store.*) and the admin procedures
 * (gatehouse.admin.*, lib/admin-api.ts), and follow the aggregate tables' change feeds.
 * The server side is only this Express router: the page's files, autobahn, and the
 * page's settings.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';

export interface DashboardOptions {
  /** the WAMP WebSocket path on the same origin, e.g. '/ws' */
  wampPath: string;
  /** the realm the aggregate tables live in */
  realm: string;
}

/**
 * The page's own files. From the TypeScript sources they sit beside this module; the
 * compiled module (dist/lib/dashboard) finds them in the package's lib/dashboard/static,
 * which package.json "files" ships.
 */
function staticDir(): string {
  const candidates = [join(__dirname, 'static'), join(__dirname, '..', '..', '..', 'lib', 'dashboard', 'static')];
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')));
  // invariant, not a catalogue error: a broken install (the files ship with the package)
  if (found === undefined) throw new Error(`dashboard files not found (looked in ${candidates.join(', ')})`);
  return found;
}

/**
 * autobahn's browser build: the autobahn package on npm ships only CommonJS sources for
 * Node (a browser needs a bundler); autobahn-browser is the same release, built by its
 * authors as one script that defines the global `autobahn`.
 */
const AUTOBAHN_BROWSER = require.resolve('autobahn-browser/autobahn.min.js');

/**
 * Same-origin only: the page loads nothing from elsewhere and talks only to the router
 * it came from ('self' covers ws:/wss: to the same host in CSP Level 3).
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** An Express router serving the dashboard; mount it at the dashboard's path. */
export function dashboardRouter(opts: DashboardOptions): express.Router {
  const root = staticDir();
  const settings = JSON.stringify({ wampPath: opts.wampPath, realm: opts.realm });
  const router = express.Router({ strict: true });

  router.use((_req, res, next) => {
    res.set('content-security-policy', CONTENT_SECURITY_POLICY);
    res.set('x-content-type-options', 'nosniff');
    res.set('referrer-policy', 'no-referrer');
    next();
  });

  // The page's relative URLs need the trailing slash: /dashboard -> /dashboard/
  router.get('/', (req, res, next) => {
    const url = new URL(req.originalUrl, 'http://localhost');
    if (url.pathname.endsWith('/')) {
      next();
      return;
    }
    res.redirect(301, `${url.pathname}/${url.search}`);
  });

  router.get('/settings.json', (_req, res) => {
    res.set('cache-control', 'no-store');
    res.type('application/json').send(settings);
  });

  router.get('/vendor/autobahn.min.js', (_req, res) => {
    res.sendFile(AUTOBAHN_BROWSER, { maxAge: '1h' });
  });
  router.use(express.static(root, { index: 'index.html', redirect: false, cacheControl: true, maxAge: 0 }));
  return router;
}
