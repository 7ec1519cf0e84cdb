/**
 * A node's interest in other nodes' publications: one NATS subscription per subject
 * filter, whatever number of local subscriptions (of whatever sessions and protocols)
 * map to it, kept by reference count (issue 12: "a message reaches a node once").
 *
 * Two filters of one node may both match a subject (`a.*.!` and `a.>`), and NATS then
 * hands the message to each subscription. The node routes it once: only the oldest
 * matching filter lets it through (`isFirst`), found with the router's own topic index
 * (a filter's `*` is a wildcard component, its final `>` a `#`; every event subject ends
 * in a `!` token, so `#` matching its parent too changes nothing).
 */
import { TopicIndex, type TopicPattern } from '../topic';

export interface Interest {
  readonly realm: string;
  readonly filter: string;
  /** local subscriptions that map to the filter */
  count: number;
  /** creation order: the oldest matching filter routes a message */
  readonly seq: number;
  readonly pattern: TopicPattern;
  /** ends the NATS subscription; undefined while not connected yet */
  close: (() => void) | undefined;
}

/** Opens a NATS subscription for an interest; returns how to close it. */
export type OpenInterest = (interest: Interest) => () => void;

export class InterestTable {
  private readonly byFilter = new Map<string, Interest>();
  private readonly index = new TopicIndex<Interest>();
  private seq = 0;
  /** undefined until the connection exists: interests wait, then open together */
  private open: OpenInterest | undefined;

  /** number of subject filters (NATS subscriptions) */
  get size(): number {
    return this.byFilter.size;
  }

  filters(): IterableIterator<string> {
    return this.byFilter.keys();
  }

  /** A local subscription maps to `filter`: the first one opens its NATS subscription. */
  add(realm: string, filter: string): void {
    const known = this.byFilter.get(filter);
    if (known) {
      known.count++;
      return;
    }
    const interest: Interest = { realm, filter, count: 1, seq: this.seq++, pattern: patternOf(filter), close: undefined };
    this.byFilter.set(filter, interest);
    this.index.add(interest.pattern, interest);
    if (this.open) interest.close = this.open(interest);
  }

  /** A local subscription that mapped to `filter` is gone: the last one closes it. */
  remove(filter: string): void {
    const interest = this.byFilter.get(filter);
    if (!interest || --interest.count > 0) return;
    this.byFilter.delete(filter);
    this.index.remove(interest.pattern);
    interest.close?.();
    interest.close = undefined;
  }

  /** The connection exists: every interest (and every later one) gets its subscription. */
  connect(open: OpenInterest): void {
    this.open = open;
    for (const interest of this.byFilter.values()) interest.close ??= open(interest);
  }

  /** The connection is gone for good (stop): subscriptions end with it. */
  disconnect(): void {
    this.open = undefined;
    for (const interest of this.byFilter.values()) interest.close = undefined;
  }

  /** Is `interest` the oldest live filter matching `subject`? (one delivery per node) */
  isFirst(interest: Interest, subject: string): boolean {
    if (this.byFilter.get(interest.filter) !== interest) return false;
    if (this.byFilter.size === 1) return true;
    let first = interest;
    this.index.match(subject, (other) => {
      if (other.seq < first.seq) first = other;
    });
    return first === interest;
  }
}

/** A subject filter as a pattern of the topic index. */
function patternOf(filter: string): TopicPattern {
  const tokens = filter.split('.');
  let wild = false;
  const last = tokens.length - 1;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === '*') {
      tokens[i] = '';
      wild = true;
    } else if (i === last && tokens[i] === '>') {
      tokens[i] = '#';
      wild = true;
    }
  }
  const uri = tokens.join('.');
  const match = wild ? 'wildcard' : 'exact';
  return { uri, match, key: `${match}:${uri}` };
}
