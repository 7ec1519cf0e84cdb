import type { RouterError } from '../../lib/errors';
import type { Revocation } from '../../lib/session';
import { Msg } from '../../lib/wamp/messages';
import type { WampSession } from './session';

/**
 * The core ended subscriptions or registrations this session may no longer hold (a
 * config reload). WAMP advanced profile, "Subscription Revocation" and "Registration
 * Revocation": the router sends `[UNSUBSCRIBED, 0, {subscription, reason}]` /
 * `[UNREGISTERED, 0, {registration, reason}]` to a client that announced
 * `subscriber.features.subscription_revocation` / `callee.features.registration_revocation`;
 * a client that did not could not tell such a message from a protocol error, so the
 * router must not send it: that session is ended with GOODBYE (the reason's URI)
 * instead of being left believing it still receives.
 */
export function revokeOnWire(s: WampSession, lost: readonly Revocation[], reason: RouterError): void {
  const told = lost.every((l) =>
    l.kind === 'subscription' ? s.features.subscriptionRevocation : s.features.registrationRevocation,
  );
  if (!told) {
    s.goodbye(reason, reason.message);
    return;
  }
  for (const l of lost) {
    if (l.kind === 'subscription') s.send([Msg.UNSUBSCRIBED, 0, { subscription: l.id, reason: reason.def.wamp }]);
    else s.send([Msg.UNREGISTERED, 0, { registration: l.id, reason: reason.def.wamp }]);
  }
}
