/**
 * The router's links (config `links`, README "Links"): built and checked with the
 * router, started once its store is open, closed with it. Also what the outside sees
 * of them: gatehouse.link.list, metrics, /health.
 */
import { ConfigError, type LinkConfig } from '../config';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { PublicationTaps } from '../publication-taps';
import type { Realm } from '../realm';
import type { Mailboxes } from '../mailbox/mailboxes';
import { Link, type LinkStatus } from './link';
import { MailboxLinkQueue } from './link-queue';
import { registrationOf, topicPatternOf } from './patterns';
import { TRANSPORTS, transportFor } from './transports';

/** What the manager needs of the router (RouterCore). */
export interface LinkHost {
  readonly node: string;
  readonly mailboxes: Mailboxes;
  readonly taps: PublicationTaps;
  readonly metrics: Metrics;
  readonly log: Logger;
  realm(name: string): Realm | undefined;
}

/** The builtin procedure that lists the links, callable from any protocol. */
export const LINK_LIST = 'gatehouse.link.list';

export class LinkManager {
  private readonly links: Link[] = [];
  private started = false;

  constructor(
    private readonly host: LinkHost,
    private readonly configs: readonly LinkConfig[],
  ) {
    checkLinks(configs);
    if (configs.length > 0) {
      host.metrics.addCollector(() => {
        for (const l of this.links) host.metrics.linkQueued.labels(l.name).set(l.status().queued);
      });
    }
  }

  get size(): number {
    return this.configs.length;
  }

  /** Opens each link's realm and starts connecting. Called once the store is open. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const log = this.host.log.child({ component: 'links' });
    for (const cfg of this.configs) {
      const realm = this.host.realm(cfg.realm);
      if (!realm) {
        log.error({ link: cfg.name, realm: cfg.realm }, 'link not started: its realm cannot be opened');
        continue;
      }
      const factory = transportFor(cfg.url);
      if (!factory) continue; // refused by the constructor
      const queue = new MailboxLinkQueue(this.host.mailboxes, cfg.name, cfg.queue);
      const link = new Link(cfg, {
        realm,
        node: this.host.node,
        queue,
        log,
        metrics: this.host.metrics,
        transport: () =>
          factory({
            url: cfg.url,
            remoteRealm: cfg.remoteRealm ?? cfg.realm,
            auth: cfg.auth,
            tls: cfg.tls,
            timeoutMs: cfg.timeoutMs,
            clientId: `gatehouse-link-${this.host.node}-${cfg.name}`,
          }),
      });
      this.links.push(link);
      link.start();
    }
  }

  /** gatehouse.link.list in a realm (every realm has it, so any client can look). */
  install(realm: Realm): void {
    if (this.configs.length === 0) return;
    realm.builtins.set(LINK_LIST, () => ({ args: [this.list()] }));
  }

  /** The link whose `calls` serve `procedure` in `realm` (durable requests go there). */
  peerFor(realm: string, procedure: string): Link | undefined {
    return this.links.find((l) => l.serves(realm, procedure));
  }

  list(): LinkStatus[] {
    const now = Date.now();
    return this.links.map((l) => l.status(now));
  }

  /** For /health: each link's state and backlog (a link down does not make the router unhealthy). */
  health(): { name: string; state: string; queued: number; oldestAgeMs: number }[] {
    return this.list().map((s) => ({ name: s.name, state: s.state, queued: s.queued, oldestAgeMs: s.oldestAgeMs }));
  }

  async close(): Promise<void> {
    await Promise.all(this.links.map((l) => l.stop()));
  }
}

/**
 * Throws ConfigError naming each link setting no transport or pattern can serve
 * (the schema cannot say which url schemes this build speaks); `gatehouse
 * check-config` runs it too.
 */
export function checkLinks(configs: readonly LinkConfig[]): void {
  const problems = configs.flatMap((c, i) => problemsOf(c, i));
  if (problems.length > 0) throw new ConfigError(problems);
}

function problemsOf(c: LinkConfig, i: number): string[] {
  const at = `/links/${i}`;
  const problems: string[] = [];
  if (!transportFor(c.url)) {
    let scheme = c.url;
    try {
      scheme = new URL(c.url).protocol;
    } catch {
      problems.push(`${at}/url is not a URL: ${c.url}`);
      return problems;
    }
    problems.push(`${at}/url: no link transport for ${scheme} in this build (${Object.keys(TRANSPORTS).join(', ')})`);
  }
  c.out.forEach((p, j) => {
    if (!topicPatternOf(p)) problems.push(`${at}/out/${j} is not a topic pattern: ${p}`);
  });
  if (c.in !== 'auto') {
    c.in.forEach((p, j) => {
      if (!topicPatternOf(p)) problems.push(`${at}/in/${j} is not a topic pattern: ${p}`);
    });
  }
  c.calls.forEach((p, j) => {
    if (!registrationOf(p)) problems.push(`${at}/calls/${j} is not a procedure pattern the router can register: ${p}`);
  });
  return problems;
}
