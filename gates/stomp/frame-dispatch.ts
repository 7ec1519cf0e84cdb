import { isClientCommand, mayHaveBody, type StompFrame } from '../../lib/stomp/frame';
import type { StompConnection } from './connection';
import { handleAck } from './handlers/ack';
import { handleConnect } from './handlers/connect';
import { handleDisconnect } from './handlers/disconnect';
import { handleSend } from './handlers/send';
import { handleSubscribe, handleUnsubscribe } from './handlers/subscribe';
import { handleAbort, handleBegin, handleCommit } from './handlers/transaction';

/**
 * Hands one client frame to its handler (handlers/), after the checks every frame gets:
 * a command clients send, a body only where STOMP allows one, CONNECT (or STOMP) first
 * and only once. Anything else is a protocol error, which closes the connection.
 */
export function dispatchFrame(conn: StompConnection, frame: StompFrame): void {
  const cmd = frame.command;
  if (!isClientCommand(cmd)) {
    conn.protocolError(`${cmd} is not sent by clients`, frame);
    return;
  }
  // STOMP 1.2 §Body: only SEND, MESSAGE and ERROR frames may have a body
  if (frame.body.length > 0 && !mayHaveBody(cmd)) {
    conn.protocolError(`a ${cmd} frame must not have a body`, frame);
    return;
  }
  if (conn.state === 'connect') {
    if (cmd !== 'CONNECT' && cmd !== 'STOMP') {
      conn.protocolError(`expected CONNECT, got ${cmd}`, frame);
      return;
    }
    conn.connectArrived();
    handleConnect(conn, frame);
    return;
  }
  switch (cmd) {
    case 'SEND':
      handleSend(conn, frame);
      return;
    case 'SUBSCRIBE':
      handleSubscribe(conn, frame);
      return;
    case 'UNSUBSCRIBE':
      handleUnsubscribe(conn, frame);
      return;
    case 'ACK':
      handleAck(conn, frame, 'ack');
      return;
    case 'NACK':
      // STOMP 1.1 §NACK: not in 1.0
      if (conn.version === '1.0') {
        conn.protocolError('NACK is not part of STOMP 1.0', frame);
        return;
      }
      handleAck(conn, frame, 'nack');
      return;
    case 'BEGIN':
      handleBegin(conn, frame);
      return;
    case 'COMMIT':
      handleCommit(conn, frame);
      return;
    case 'ABORT':
      handleAbort(conn, frame);
      return;
    case 'DISCONNECT':
      handleDisconnect(conn, frame);
      return;
    case 'CONNECT':
    case 'STOMP':
      conn.protocolError('already connected', frame);
      return;
  }
}
