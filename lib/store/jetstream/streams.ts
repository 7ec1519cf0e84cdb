/**
 * A JetStream stream the cluster keeps its queues in (lib/cluster/mqtt-sessions.ts,
 * lib/work-queues/jetstream.ts): made sure of at start, by every node.
 */
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';

/**
 * Makes sure the stream exists. A stream made by an older config keeps its settings but
 * its per-subject bound (and, for a bound that refuses, its discard policy), which
 * follows the config of the node that started last. A
 * failed update of the bound goes to `onBoundKept` when given (the caller works on with
 * the old bound), else it is thrown.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
  onBoundKept?: (err: unknown) => void,
): Promise<void> {
  let info;
  try {
    info = await jsm.streams.info(config.name);
  } catch {
    // missing: created below
  }
  if (info) {
    const max = config.max_msgs_per_subject;
    // a bound that refuses (discard new per subject): a stream made before it had one
    // must refuse too, not drop its oldest
    const refuse = config.discard_new_per_subject ?? false;
    const refuses = info.config.discard === config.discard && info.config.discard_new_per_subject;
    if (max !== undefined && (info.config.max_msgs_per_subject !== max || (refuse && !refuses))) {
      const update = jsm.streams.update(config.name, {
        max_msgs_per_subject: max,
        ...(refuse ? { discard: config.discard, discard_new_per_subject: true } : {}),
      });
      await (onBoundKept ? update.catch(onBoundKept) : update);
    }
    return;
  }
  try {
    await jsm.streams.add(config);
  } catch (err) {
    // another node created it in between
    await jsm.streams.info(config.name).catch(() => {
      throw err;
    });
  }
}
