/**
 * Admin HTTP routes for the daemon: GET /health for load balancers and orchestrators,
 * and Prometheus metrics. Plain `http` handlers, not Express: health probes arrive every
 * few seconds on every router, and a router that serves only these need not load Express
 * (about 5 MB resident; README "Footprint").
 */
import type http from 'node:http';
import type { Metrics } from './metrics';

export interface AdminDeps {
  metrics: Metrics;
  /** a health report; anything but `status: 'ok'` answers 503 (e.g. while draining) */
  health: () => Record<string, unknown>;
  /** where metrics are served, e.g. '/metrics'; false serves none (metrics.enabled off) */
  metricsPath: string | false;
}

/** Answers GET/HEAD /health and the metrics path; false for any other request. */
export type AdminHandler = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

export function adminHandler(deps: AdminDeps): AdminHandler {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === '/health') {
      const report = deps.health();
      send(res, report.status === 'ok' ? 200 : 503, 'application/json; charset=utf-8', JSON.stringify(report));
      return true;
    }
    if (deps.metricsPath !== false && path === deps.metricsPath) {
      deps.metrics.render().then(
        (text) => {
          send(res, 200, deps.metrics.contentType, text);
        },
        () => {
          send(res, 500, 'text/plain; charset=utf-8', 'metrics unavailable\n');
        },
      );
      return true;
    }
    return false;
  };
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
