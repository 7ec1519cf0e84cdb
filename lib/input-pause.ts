/**
 * Reading from a connection pauses while any reason holds (its outbound queue is over
 * the high water mark, its inbound rate is over the limit) and resumes when none does,
 * so one reason ending does not undo another.
 */
export class InputPause {
  /** the reasons that hold now: a handful of names, so a small array (no Set per connection) */
  private readonly reasons: string[] = [];

  constructor(private readonly target: { pause(): unknown; resume(): unknown }) {}

  pause(reason: string): void {
    if (this.reasons.includes(reason)) return;
    if (this.reasons.length === 0) this.target.pause();
    this.reasons.push(reason);
  }

  resume(reason: string): void {
    const at = this.reasons.indexOf(reason);
    if (at < 0) return;
    this.reasons.splice(at, 1);
    if (this.reasons.length === 0) this.target.resume();
  }
}
