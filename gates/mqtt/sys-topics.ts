import type { MqttGateContext } from './context';

/**
 * `$SYS/broker/...` counters, Mosquitto style, published retained every
 * `mqtt.sysIntervalSeconds` to the MQTT listener's realm (canonical `$SYS.broker...`,
 * so WAMP and STOMP clients can read them too).
 */
export function startSysTopics(ctx: MqttGateContext): () => void {
  const seconds = ctx.config.mqtt.sysIntervalSeconds;
  if (seconds <= 0) return () => undefined;
  const publish = (): void => {
    const realm = ctx.router.realm(ctx.config.mqtt.realm);
    if (!realm) return;
    const g = ctx.router.metrics.forGate('mqtt');
    let connected = 0;
    for (const s of ctx.sessions.values()) if (s.link) connected++;
    const values: [string, number][] = [
      ['$SYS.broker.uptime', Math.round((ctx.clock.now() - ctx.startedAt) / 1000)],
      ['$SYS.broker.clients.connected', connected],
      ['$SYS.broker.clients.total', ctx.sessions.size],
      ['$SYS.broker.messages.received', g.messagesIn],
      ['$SYS.broker.messages.sent', g.messagesOut],
      ['$SYS.broker.bytes.received', g.bytesIn],
      ['$SYS.broker.bytes.sent', g.bytesOut],
    ];
    for (const [topic, value] of values) {
      const r = realm.publish(
        undefined,
        topic,
        { bytes: Buffer.from(String(value)) },
        { retain: true, retainFlag: true, qos: 0 },
      );
      if (r instanceof Promise) r.catch(() => undefined);
    }
  };
  // on the router's clock: a test moves it to the next refresh instead of waiting for it
  const timer = ctx.clock.setInterval(publish, seconds * 1000);
  timer.unref();
  publish();
  return () => {
    ctx.clock.clearInterval(timer);
  };
}
