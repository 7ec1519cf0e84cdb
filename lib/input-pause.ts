/**
 * Reading from a connection pauses while any reason holds (its outbound queue is over
 * the high water mark, its inbound rate is over the limit) and resumes when none does,
 * so one reason ending does not undo another.
 */
export class InputPause {
  private readonly reasons = new Set<string>();

  constructor(private readonly target: { pause(): unknown; resume(): unknown }) {}

  pause(reason: string): void {
    if (this.reasons.size === 0) this.target.pause();
    this.reasons.add(reason);
  }

  resume(reason: string): void {
    if (!this.reasons.delete(reason) || this.reasons.size > 0) return;
    this.target.resume();
  }
}
