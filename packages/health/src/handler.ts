import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkOptions } from '@halfopen/internal';
import { type HealthReport, type Probe, probeName } from './health.js';

/** Anything that answers a probe from cached state: a Health. */
export interface Reporter {
  report(probe: Probe): HealthReport;
}

export interface HandlerOptions {
  /** Which probe this endpoint answers. Default: 'readiness'. */
  probe?: Probe;
}

/**
 * A `node:http` request listener answering `probe` from `health`'s cached state: 200 or 503
 * with the JSON report (no body for HEAD). It runs no check and awaits nothing, so it costs
 * microseconds and cannot hang. Mount one per path: `/readyz` readiness, `/livez` liveness.
 */
export function healthHandler(
  health: Reporter,
  options?: HandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  if (health === null || typeof health !== 'object' || typeof health.report !== 'function') {
    throw new TypeError('health must be a Health (an object with report())');
  }
  const probe = probeName(checkOptions(options, ['probe']).probe, 'options.probe');
  return (req, res) => {
    const r = health.report(probe);
    res.writeHead(r.status, r.headers);
    res.end(req.method === 'HEAD' ? undefined : r.body);
  };
}
