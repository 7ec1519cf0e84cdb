/**
 * The WebSocket Origin allow-list (http.allowedOrigins). Origin is what a browser
 * sends to say which page opened the socket; it stops another site's page from using a
 * visitor's browser to reach the router (cross-site WebSocket hijacking). Non-browser
 * clients send none and are not affected, like Crossbar's `allowed_origins`, whose
 * default is also every origin.
 */

/** Compiles the list: '*' allows any origin; '*' inside an entry matches within one host label or more. */
export function originMatcher(allowed: readonly string[]): (origin: string | undefined, host: string | undefined) => boolean {
  if (allowed.includes('*')) return () => true;
  const patterns = allowed.map((p) => new RegExp(`^${p.toLowerCase().split('*').map(escape).join('[a-z0-9.-]*')}$`));
  return (origin, host) => {
    if (origin === undefined) return true;
    const o = origin.toLowerCase();
    // the page came from this very server: same origin as the endpoint itself
    if (host !== undefined && hostOf(o) === host.toLowerCase()) return true;
    return patterns.some((re) => re.test(o));
  };
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
