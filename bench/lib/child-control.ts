/**
 * The line protocol of a benchmarked server child (bench/servers/*-server.js with
 * profiler-control.js): it prints `PORT <n>` once listening and answers the commands
 * written to its stdin with a line of its own (profile-start -> PROFILE-STARTED, ...).
 * One per child: the broker and router drivers in bench/lib/*-process.ts use it.
 */
import type { ChildProcess } from 'node:child_process';

export class ChildControl {
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;

  /**
   * `why` says what the child has logged, for errors; `keep` picks the stdout lines
   * expect() may wait for, and the others go to `other` (by default every line is kept).
   */
  constructor(
    private readonly name: string,
    private readonly child: ChildProcess,
    private readonly why: () => string,
    keep: (line: string) => boolean = () => true,
    other?: (line: string) => void,
  ) {
    let partial = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      const parts = (partial + s).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) {
        const line = l.trim();
        if (keep(line)) this.lines.push(line);
        else other?.(line);
      }
      this.waiter?.();
    });
  }

  /** Waits for a stdout line matching `re` (lines seen before are searched first). */
  async expect(re: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex((l) => re.test(l));
      if (i >= 0) return this.lines.splice(i, 1)[0]!;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `${this.name} exited (${String(this.child.exitCode ?? this.child.signalCode)}) while waiting for ${re.source}: ${this.why()}`,
        );
      }
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${re.source} within ${timeoutMs} ms: ${this.why()}`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  /** The port of the child's `PORT <n>` line. */
  async port(): Promise<number> {
    const line = await this.expect(/^PORT (\d+)$/, 30_000);
    return Number(line.slice(5));
  }

  /** Writes a command line to the child's stdin and waits for its answer. */
  command(command: string, answer: RegExp, timeoutMs: number): Promise<string> {
    this.child.stdin?.write(`${command}\n`);
    return this.expect(answer, timeoutMs);
  }

  /** Starts V8's sampling profiler in the child (bench/servers/profiler-control.js). */
  async startProfile(): Promise<void> {
    await this.command('profile-start', /^PROFILE-STARTED$/, 10_000);
  }

  /** Stops the profiler and has the child write the .cpuprofile to `file`. */
  async stopProfile(file: string): Promise<void> {
    await this.command(`profile-stop ${file}`, /^PROFILE-WRITTEN$/, 60_000);
  }
}
