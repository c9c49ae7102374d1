// Which of a peer's URLs to use: the same one until it fails, then the next, round robin.
export class UrlPicker {
  private urls: string[];
  private picked = 0;

  constructor(urls: readonly string[]) {
    this.urls = [...urls];
  }

  update(urls: readonly string[]): void {
    this.urls = [...urls];
    this.picked = 0;
  }

  pick(): string {
    return this.urls[this.picked];
  }

  /** Move on from `url` if it is still the picked one (another failure may have moved already). */
  unreachable(url: string): void {
    if (this.urls[this.picked] === url) this.picked = (this.picked + 1) % this.urls.length;
  }

  all(): string[] {
    return [...this.urls];
  }
}
