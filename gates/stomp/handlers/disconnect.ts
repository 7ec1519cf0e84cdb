import type { StompConnection } from '../connection';
import { header, type StompFrame } from '../../../lib/stomp/frame';

/**
 * DISCONNECT (STOMP 1.2 §DISCONNECT, "graceful shutdown"): nothing after it is read; the
 * RECEIPT leaves once every earlier frame is done (their commits included), and then
 * the connection closes. Open transactions are aborted; a queue subscription's
 * unacknowledged messages go back to the queue.
 */
export function handleDisconnect(conn: StompConnection, frame: StompFrame): void {
  conn.stopReading();
  const receipt = header(frame, 'receipt');
  conn.inOrder(undefined, () => {
    if (receipt !== undefined) conn.sendFrame('RECEIPT', [['receipt-id', receipt]]);
    conn.end();
  });
}
