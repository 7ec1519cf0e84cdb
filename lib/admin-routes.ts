/**
 * Admin HTTP routes for the daemon: GET /health for load balancers and orchestrators,
 * and Prometheus metrics.
 */
import express from 'express';
import type { Metrics } from './metrics';

export interface AdminDeps {
  metrics: Metrics;
  /** a health report; anything but `status: 'ok'` answers 503 (e.g. while draining) */
  health: () => Record<string, unknown>;
  /** where metrics are served, e.g. '/metrics'; false serves none (metrics.enabled off) */
  metricsPath: string | false;
}

export function adminRouter(deps: AdminDeps): express.Router {
  const router = express.Router();

  router.get('/health', (_req, res) => {
    const report = deps.health();
    res.set('cache-control', 'no-store');
    res.status(report.status === 'ok' ? 200 : 503).json(report);
  });

  if (deps.metricsPath !== false) {
    router.get(deps.metricsPath, async (_req, res) => {
      const text = await deps.metrics.render();
      res.set('cache-control', 'no-store');
      res.status(200).type(deps.metrics.contentType).send(text);
    });
  }

  return router;
}
