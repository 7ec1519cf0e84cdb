/**
 * The router roles and features announced in WELCOME. Each feature is listed only
 * because it works end to end; test/gates/wamp exercises every one with real clients.
 */
export const ROUTER_ROLES = Object.freeze({
  broker: {
    features: {
      publisher_identification: true,
      publisher_exclusion: true,
      subscriber_blackwhite_listing: true,
      pattern_based_subscription: true,
      subscription_meta_api: true,
      session_meta_api: true,
      testament_meta_api: true,
      event_history: true,
      payload_passthru_mode: true,
      subscription_revocation: true,
    },
  },
  dealer: {
    features: {
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
    },
  },
});
