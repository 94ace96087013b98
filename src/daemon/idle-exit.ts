/**
 * Exits the daemon after `timeoutSeconds` with no registered client and no transaction (0: never). `busy()` is
 * asked whenever the timer would fire; `poke()` restarts the countdown after something happened.
 */
export class IdleExit {
  private timer: NodeJS.Timeout | undefined;

  constructor(private timeoutSeconds: number, private readonly busy: () => boolean, private readonly exit: () => void) {}

  setTimeout(seconds: number): void {
    this.timeoutSeconds = seconds;
    this.poke();
  }

  poke(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.timeoutSeconds <= 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.busy()) this.poke();
      else this.exit();
    }, this.timeoutSeconds * 1000);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
