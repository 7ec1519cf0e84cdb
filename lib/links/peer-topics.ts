import { canonicalToMqtt, isWellFormedCanonical } from '../notation';

/**
 * A link's patterns (canonical topics with fox-wamp wildcards: a whole `*` component is
 * one level, a final `#` the rest) in the peer's notation. Concrete topics go through
 * lib/notation.ts as they do at the router's own gates; only the wildcards are the
 * link's, since in canonical form `*` is otherwise an ordinary character.
 */

const ONE_LEVEL = '*';
const REST = '#';

/** MQTT topic filter of a link pattern (`a.*.c` -> `a/+/c`, `a.#` -> `a/#`); null when MQTT cannot name it. */
export function linkPatternToMqttFilter(pattern: string): string | null {
  const parts = pattern.split('.');
  const last = parts.length - 1;
  const levels: string[] = [];
  for (let i = 0; i <= last; i++) {
    const c = parts[i] ?? '';
    if (c === ONE_LEVEL || c === '') {
      // [MQTT-4.7.1-3] `+` fills a whole level
      levels.push('+');
    } else if (c === REST) {
      // [MQTT-4.7.1-2] `#` only as the last level
      if (i !== last) return null;
      levels.push('#');
    } else {
      const level = canonicalToMqtt(c);
      if (level === null) return null;
      levels.push(level);
    }
  }
  return levels.join('/');
}

/**
 * STOMP destination of a link pattern (`a.*.c` -> `/topic/a.*.c`): RabbitMQ's topic
 * exchange reads `*` and `#` words as the same wildcards, and so does Gatehouse's STOMP
 * gate. Null when a component is not canonical normal form or `#` is not last.
 */
export function linkPatternToStompDestination(pattern: string): string | null {
  const parts = pattern.split('.');
  const last = parts.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = parts[i] ?? '';
    if (c === ONE_LEVEL) continue;
    if (c === REST) {
      if (i !== last) return null;
      continue;
    }
    if (!isWellFormedCanonical(c)) return null;
  }
  return `/topic/${pattern}`;
}
