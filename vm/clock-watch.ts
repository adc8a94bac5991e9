// Notices that the host slept: a timer that should fire every intervalMs finds
// that far more wall-clock time has passed (timers do not run while the host
// is suspended). The VM's clock stood still meanwhile, so the machine then
// sends the host's time to the guest.
export class ClockJumpWatcher {
  private timer: NodeJS.Timeout | undefined;
  private last: number;

  constructor(
    private readonly onJump: (gapMs: number) => void,
    private readonly intervalMs = 5000,
    /** Slack for a busy event loop before a late tick counts as a sleep. */
    private readonly toleranceMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {
    this.last = now();
  }

  start(): void {
    this.last = this.now();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** One check (the timer's; tests call it with a moved clock). */
  tick(): void {
    const t = this.now();
    const gap = t - this.last;
    this.last = t;
    // A clock set backwards is a jump as well.
    if (gap > this.intervalMs + this.toleranceMs || gap < 0) this.onJump(gap);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
