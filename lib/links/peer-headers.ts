/**
 * What a link writes beside a message's own headers when the peer's protocol has room
 * for it (MQTT 5 user properties, STOMP headers), so a Gatehouse peer can drop a
 * duplicate by message id and keep a retained publication retained. Peers that know
 * nothing of them carry them to their subscribers as ordinary properties.
 */

/** `<origin node>:<publication id>` (lib/publication-taps.ts messageIdOf) */
export const MESSAGE_ID_HEADER = 'gatehouse-message-id';
/** STOMP has no retained messages: the flag travels as this header (value `true`) */
export const RETAIN_HEADER = 'gatehouse-retain';

/**
 * The message id a peer sent with a message, and its other user properties without it;
 * an empty id when it sent none (a message published at a foreign broker).
 */
export function takeMessageId(props: Record<string, string | string[]> | undefined): {
  messageId: string;
  rest: Record<string, string | string[]> | undefined;
} {
  if (props === undefined || !(MESSAGE_ID_HEADER in props)) return { messageId: '', rest: props };
  const { [MESSAGE_ID_HEADER]: id, ...rest } = props;
  const messageId = typeof id === 'string' ? id : (id[0] ?? '');
  return { messageId, rest: Object.keys(rest).length > 0 ? rest : undefined };
}
