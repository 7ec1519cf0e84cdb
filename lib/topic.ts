/**
 * Canonical topic form and the subscription index.
 *
 * The core speaks one topic syntax, the WAMP URI: dot-separated components
 * (`com.example.a`). Gates translate their own syntax into it before a topic reaches the
 * broker, so everything below sees WAMP URIs only.
 */
import { Errors, RouterError } from './errors';

export type MatchPolicy = 'exact' | 'prefix' | 'wildcard';

export interface UriRules {
  /** components must match [0-9a-z_]+ (WAMP "strict" URIs) */
  strict?: boolean;
  /** empty components allowed: the single-level wildcards of a wildcard pattern */
  allowEmptyComponents?: boolean;
  /** a trailing '.' allowed: prefix patterns such as `com.myapp.` */
  allowPrefixDot?: boolean;
}

export interface TopicPattern {
  /** canonical pattern URI; a wildcard pattern may end in the component `#` */
  uri: string;
  match: MatchPolicy;
  /** unique per (uri, match): `${match}:${uri}` */
  key: string;
}

// WAMP basic profile, "URIs": strict components are [0-9a-z_]+; loose components are
// anything but whitespace, '.' and '#' (the '.' never survives the split).
const STRICT_COMPONENT = /^[0-9a-z_]+$/;
const LOOSE_FORBIDDEN = /[\s#]/;

/** In-URI wildcards (fox-wamp style) allowed on an exact subscription. */
const ONE_LEVEL = '*';
const MANY_LEVELS = '#';

function isValidComponent(component: string, strict: boolean): boolean {
  return strict ? STRICT_COMPONENT.test(component) : !LOOSE_FORBIDDEN.test(component);
}

export function isValidUri(uri: string, opts: UriRules = {}): boolean {
  const strict = opts.strict === true;
  const allowEmpty = opts.allowEmptyComponents === true;
  const allowPrefixDot = opts.allowPrefixDot === true;
  const parts = uri.split('.');
  const last = parts.length - 1;
  let i = 0;
  for (const part of parts) {
    if (part.length === 0) {
      // WAMP advanced: pattern-based subscriptions. Only a wildcard pattern may have an
      // empty component; a prefix may end in a dot but must have something before it.
      if (!allowEmpty && !(allowPrefixDot && i === last && i > 0)) return false;
    } else if (!isValidComponent(part, strict)) {
      return false;
    }
    i++;
  }
  return true;
}

function makePattern(uri: string, match: MatchPolicy): TopicPattern {
  return { uri, match, key: `${match}:${uri}` };
}

/**
 * An exact subscription whose URI holds a whole `*` or `#` component is a wildcard
 * subscription in disguise (fox-wamp, MQTT-like). `*` becomes the WAMP empty component;
 * a trailing `#` is kept as is, which is unambiguous because a WAMP URI can never
 * contain '#'.
 */
function parseExact(uri: string, strict: boolean): TopicPattern | null {
  const parts = uri.split('.');
  const last = parts.length - 1;
  let wildcard = false;
  let i = 0;
  for (const part of parts) {
    if (part === ONE_LEVEL) {
      wildcard = true;
      parts[i] = '';
    } else if (part === MANY_LEVELS) {
      // like MQTT's '#' [MQTT-4.7.1-1]: only the last level may be multi-level
      if (i !== last) return null;
      wildcard = true;
    } else if (part.length === 0 || !isValidComponent(part, strict)) {
      return null;
    }
    i++;
  }
  return wildcard ? makePattern(parts.join('.'), 'wildcard') : makePattern(uri, 'exact');
}

/**
 * Normalizes a subscription request into an index pattern; null when the URI is not
 * valid for the policy. `match` comes from SUBSCRIBE.Options and defaults to 'exact'.
 */
export function parsePattern(uri: string, match: MatchPolicy | undefined, opts: { strict?: boolean } = {}): TopicPattern | null {
  const strict = opts.strict === true;
  switch (match ?? 'exact') {
    case 'exact':
      return parseExact(uri, strict);
    case 'prefix':
      // WAMP advanced: prefix matching is on the string, so `a.b` also matches `a.bc`
      return isValidUri(uri, { strict, allowPrefixDot: true }) ? makePattern(uri, 'prefix') : null;
    case 'wildcard':
      return isValidUri(uri, { strict, allowEmptyComponents: true }) ? makePattern(uri, 'wildcard') : null;
    default:
      // the policy came off the wire: anything else is an unknown policy
      return null;
  }
}

// --- Gate translation -------------------------------------------------------------
// MQTT topic filters (`a/+/c`, `a/#`) and STOMP destinations map onto the canonical
// form above (`a.*.c`, `a.#`, i.e. wildcard patterns). That mapping belongs to the gates'
// own translation functions (fromMqttFilter / fromStompDestination), not written yet.

// --- Index ------------------------------------------------------------------------

/** Boxes a value so that a T which may itself be undefined is still "present". */
interface Slot<T> {
  value: T;
}

interface WildNode<T> {
  literal: Map<string, WildNode<T>> | undefined;
  /** single-level wildcard edge (empty component) */
  any: WildNode<T> | undefined;
  /** a pattern ends exactly here */
  end: Slot<T> | undefined;
  /** a pattern ending in `#` here: matches this node and everything below */
  rest: Slot<T> | undefined;
}

/** The partial last components of prefix patterns that end at one trie node. */
interface PrefixTails<T> {
  byText: Map<string, Slot<T>>;
  /** distinct lengths present in byText, ascending: only these prefixes are looked up */
  lengths: number[];
  lengthCounts: Map<number, number>;
}

interface PrefixNode<T> {
  children: Map<string, PrefixNode<T>> | undefined;
  tails: PrefixTails<T> | undefined;
}

function newWildNode<T>(): WildNode<T> {
  return { literal: undefined, any: undefined, end: undefined, rest: undefined };
}

function isEmptyWild<T>(node: WildNode<T>): boolean {
  return node.literal === undefined && node.any === undefined && node.end === undefined && node.rest === undefined;
}

function isEmptyPrefix<T>(node: PrefixNode<T>): boolean {
  return node.children === undefined && node.tails === undefined;
}

function duplicate(pattern: TopicPattern): RouterError {
  // the broker adds each key once; a second add is a bug in the caller, not bad input
  return new RouterError(Errors.internal, `topic index: ${pattern.key} added twice`);
}

/**
 * The subscription index. Exact patterns live in a Map; wildcard patterns in a trie of
 * components; prefix patterns in a trie of their full components with, at each node, a
 * map of partial last components. Matching costs depend on the topic's length and on
 * how many patterns match, not on how many are stored.
 */
export class TopicIndex<T> {
  private readonly exact = new Map<string, Slot<T>>();
  private readonly wildRoot: WildNode<T> = newWildNode();
  private readonly prefixRoot: PrefixNode<T> = { children: undefined, tails: undefined };
  private wildCount = 0;
  private prefixCount = 0;

  get size(): number {
    return this.exact.size + this.wildCount + this.prefixCount;
  }

  add(pattern: TopicPattern, value: T): void {
    switch (pattern.match) {
      case 'exact':
        if (this.exact.has(pattern.uri)) throw duplicate(pattern);
        this.exact.set(pattern.uri, { value });
        return;
      case 'wildcard':
        this.addWild(pattern, value);
        this.wildCount++;
        return;
      case 'prefix':
        this.addPrefix(pattern, value);
        this.prefixCount++;
        return;
    }
  }

  remove(pattern: TopicPattern): boolean {
    switch (pattern.match) {
      case 'exact':
        return this.exact.delete(pattern.uri);
      case 'wildcard':
        if (!this.removeWild(pattern.uri)) return false;
        this.wildCount--;
        return true;
      case 'prefix':
        if (!this.removePrefix(pattern.uri)) return false;
        this.prefixCount--;
        return true;
    }
  }

  /** Calls visit once per pattern matching `topic`, a concrete URI (no wildcards). */
  match(topic: string, visit: (value: T) => void): void {
    const exact = this.exact.get(topic);
    if (exact !== undefined) visit(exact.value);
    if (this.wildCount === 0 && this.prefixCount === 0) return;
    const parts = topic.split('.');
    if (this.prefixCount > 0) this.matchPrefix(parts, visit);
    if (this.wildCount > 0) this.matchWild(this.wildRoot, parts, 0, visit);
  }

  matchAll(topic: string): T[] {
    const out: T[] = [];
    this.match(topic, (value) => {
      out.push(value);
    });
    return out;
  }

  // --- wildcard trie ---

  private addWild(pattern: TopicPattern, value: T): void {
    const parts = pattern.uri.split('.');
    const many = parts[parts.length - 1] === MANY_LEVELS;
    if (many) parts.pop();
    let node = this.wildRoot;
    for (const part of parts) {
      if (part.length === 0) {
        node.any ??= newWildNode();
        node = node.any;
      } else {
        node.literal ??= new Map();
        let next = node.literal.get(part);
        if (next === undefined) {
          next = newWildNode();
          node.literal.set(part, next);
        }
        node = next;
      }
    }
    if ((many ? node.rest : node.end) !== undefined) throw duplicate(pattern);
    if (many) node.rest = { value };
    else node.end = { value };
  }

  private removeWild(uri: string): boolean {
    const parts = uri.split('.');
    const many = parts[parts.length - 1] === MANY_LEVELS;
    if (many) parts.pop();
    // remember the way down so that emptied nodes can be pruned on the way back up
    const path: WildNode<T>[] = [];
    let node = this.wildRoot;
    for (const part of parts) {
      const next = part.length === 0 ? node.any : node.literal?.get(part);
      if (next === undefined) return false;
      path.push(node);
      node = next;
    }
    if (many) {
      if (node.rest === undefined) return false;
      node.rest = undefined;
    } else {
      if (node.end === undefined) return false;
      node.end = undefined;
    }
    for (let depth = parts.length - 1; depth >= 0 && isEmptyWild(node); depth--) {
      const parent = path[depth];
      const part = parts[depth];
      if (parent === undefined || part === undefined) break;
      if (part.length === 0) {
        parent.any = undefined;
      } else if (parent.literal !== undefined) {
        parent.literal.delete(part);
        if (parent.literal.size === 0) parent.literal = undefined;
      }
      node = parent;
    }
    return true;
  }

  private matchWild(node: WildNode<T>, parts: string[], depth: number, visit: (value: T) => void): void {
    // `#` matches zero or more remaining components, so it fires before the end check
    if (node.rest !== undefined) visit(node.rest.value);
    const part = parts[depth];
    if (part === undefined) {
      if (node.end !== undefined) visit(node.end.value);
      return;
    }
    const next = node.literal?.get(part);
    if (next !== undefined) this.matchWild(next, parts, depth + 1, visit);
    if (node.any !== undefined) this.matchWild(node.any, parts, depth + 1, visit);
  }

  // --- prefix trie ---

  private addPrefix(pattern: TopicPattern, value: T): void {
    const parts = pattern.uri.split('.');
    const tail = parts.pop() ?? '';
    let node = this.prefixRoot;
    for (const part of parts) {
      node.children ??= new Map();
      let next = node.children.get(part);
      if (next === undefined) {
        next = { children: undefined, tails: undefined };
        node.children.set(part, next);
      }
      node = next;
    }
    node.tails ??= { byText: new Map(), lengths: [], lengthCounts: new Map() };
    const tails = node.tails;
    if (tails.byText.has(tail)) throw duplicate(pattern);
    tails.byText.set(tail, { value });
    const count = tails.lengthCounts.get(tail.length) ?? 0;
    tails.lengthCounts.set(tail.length, count + 1);
    if (count === 0) {
      let at = 0;
      while (at < tails.lengths.length && (tails.lengths[at] ?? 0) < tail.length) at++;
      tails.lengths.splice(at, 0, tail.length);
    }
  }

  private removePrefix(uri: string): boolean {
    const parts = uri.split('.');
    const tail = parts.pop() ?? '';
    const path: PrefixNode<T>[] = [];
    let node = this.prefixRoot;
    for (const part of parts) {
      const next = node.children?.get(part);
      if (next === undefined) return false;
      path.push(node);
      node = next;
    }
    const tails = node.tails;
    if (tails === undefined || !tails.byText.delete(tail)) return false;
    const count = (tails.lengthCounts.get(tail.length) ?? 1) - 1;
    if (count > 0) {
      tails.lengthCounts.set(tail.length, count);
    } else {
      tails.lengthCounts.delete(tail.length);
      tails.lengths.splice(tails.lengths.indexOf(tail.length), 1);
    }
    if (tails.byText.size === 0) node.tails = undefined;
    for (let depth = parts.length - 1; depth >= 0 && isEmptyPrefix(node); depth--) {
      const parent = path[depth];
      const part = parts[depth];
      if (parent?.children === undefined || part === undefined) break;
      parent.children.delete(part);
      if (parent.children.size === 0) parent.children = undefined;
      node = parent;
    }
    return true;
  }

  private matchPrefix(parts: string[], visit: (value: T) => void): void {
    let node = this.prefixRoot;
    for (const part of parts) {
      const tails = node.tails;
      if (tails !== undefined) {
        // a prefix ending at this depth matches when it is a string prefix of this
        // component; try only the lengths some stored prefix actually has. The slice is
        // the one allocation besides the split (none for the empty and full component).
        for (const len of tails.lengths) {
          if (len > part.length) break;
          const slot = tails.byText.get(len === part.length ? part : part.slice(0, len));
          if (slot !== undefined) visit(slot.value);
        }
      }
      const next = node.children?.get(part);
      if (next === undefined) return;
      node = next;
    }
  }
}

/**
 * Whether one pattern matches one concrete topic: for a single test (retained replay,
 * a key listing) where building an index would cost more than it saves.
 */
export function patternMatches(pattern: TopicPattern, topic: string): boolean {
  switch (pattern.match) {
    case 'exact':
      return pattern.uri === topic;
    case 'prefix':
      return topic.startsWith(pattern.uri);
    case 'wildcard': {
      const want = pattern.uri.split('.');
      const got = topic.split('.');
      const many = want[want.length - 1] === '#';
      if (many) {
        want.pop();
        if (got.length < want.length) return false;
      } else if (got.length !== want.length) {
        return false;
      }
      for (let i = 0; i < want.length; i++) {
        const w = want[i];
        if (w !== '' && w !== got[i]) return false;
      }
      return true;
    }
  }
}
