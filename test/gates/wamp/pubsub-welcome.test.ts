// WELCOME: the router announces its roles and the advanced features each one supports
// (WAMP advanced, "Feature Announcement"). Every feature listed here is exercised end to
// end by pubsub*.test.ts and meta*.test.ts (and the RPC suites), so the set is asserted
// exactly: announcing a feature, or dropping one, must be a deliberate change here too.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRouter, type TestRouter } from '../../helpers/router';
import { closeAll, connectAs, RawWampClient, TRANSPORT_NAMES, transportOptions, type Client } from '../../helpers/wamp-clients';

const BROKER_FEATURES = {
  publisher_identification: true,
  publisher_exclusion: true,
  subscriber_blackwhite_listing: true,
  pattern_based_subscription: true,
  subscription_meta_api: true,
  session_meta_api: true,
  testament_meta_api: true,
  event_history: true,
  payload_passthru_mode: true,
  // exercised by test/scenarios/reload.test.ts (rights removed by a config reload)
  subscription_revocation: true,
};
const DEALER_FEATURES = {
  progressive_call_results: true,
  progressive_call_invocations: true,
  call_timeout: true,
  call_canceling: true,
  caller_identification: true,
  pattern_based_registration: true,
  shared_registration: true,
  registration_meta_api: true,
  session_meta_api: true,
  testament_meta_api: true,
  payload_passthru_mode: true,
  registration_revocation: true,
};

let router: TestRouter;
const clients: Client[] = [];
before(async () => {
  router = await startRouter();
});
after(async () => {
  await closeAll(clients);
  await router.close();
});

void describe('wamp pubsub welcome', () => {
  for (const tn of TRANSPORT_NAMES) {
    void it(`wamp pubsub - WELCOME announces the broker and dealer roles with their features [${tn}]`, async () => {
      const c = await connectAs(transportOptions(router, tn), 'welcome-check');
      clients.push(c);
      const roles = c.details['roles'] as Record<string, { features?: Record<string, unknown> }>;
      assert.deepEqual(Object.keys(roles).sort(), ['broker', 'dealer']);
      assert.deepEqual(roles['broker']?.features, BROKER_FEATURES);
      assert.deepEqual(roles['dealer']?.features, DEALER_FEATURES);
      assert.equal(c.details['realm'], 'realm1');
      assert.equal(c.details['authid'], 'welcome-check', 'anonymous auth keeps the authid given in HELLO');
      assert.equal(c.details['authrole'], 'anonymous');
      assert.equal(c.details['authmethod'], 'anonymous');
      assert.ok(Number.isInteger(c.session.id) && c.session.id >= 1 && c.session.id <= 2 ** 53, `session id ${c.session.id}`);
    });
  }

  void it('wamp pubsub - WELCOME on the wire: [2, Session|id, Details|dict] with roles (raw WebSocket)', async () => {
    const raw = await RawWampClient.open(router.wsUrl, 'realm1');
    try {
      assert.ok(Number.isInteger(raw.sessionId) && raw.sessionId >= 1);
      const roles = raw.welcome['roles'] as Record<string, { features?: Record<string, unknown> }>;
      assert.deepEqual(roles['broker']?.features, BROKER_FEATURES);
      assert.deepEqual(roles['dealer']?.features, DEALER_FEATURES);
      assert.match(String(raw.welcome['authid']), /^anonymous-/, 'an authid is made up when HELLO gives none');
    } finally {
      await raw.close();
    }
  });
});
