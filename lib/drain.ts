/**
 * Waits until `remaining()` reaches zero, polling, for at most `timeoutMs`. Used when a
 * listener shuts down: sessions got GOODBYE and are given time to close cleanly.
 * Resolves true when drained, false on timeout.
 */
export async function drain(remaining: () => number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (remaining() > 0) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
