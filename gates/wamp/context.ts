import { createGateContext, type GateContext } from '../../lib/gate-context';
import type { RouterCore } from '../../lib/router';

export type WampGateContext = GateContext;

export function createWampContext(router: RouterCore): WampGateContext {
  return createGateContext(router, 'wamp');
}
