/**
 * Group commit for flushes. Many FLUSH or FUA requests arriving together share
 * one fdatasync. A flush that arrives while a sync is running cannot ride on it
 * (that sync may have started before the caller's write completed), so it
 * waits for the next one; every caller waiting for the next one shares it.
 */
export class Flusher {
  readonly #sync: () => Promise<void>;
  #running: Promise<void> | null = null;
  #next: Promise<void> | null = null;

  constructor(sync: () => Promise<void>) {
    this.#sync = sync;
  }

  flush(): Promise<void> {
    if (this.#running === null) return this.#start();
    if (this.#next === null) {
      const after = () => {
        this.#next = null;
        return this.#start();
      };
      this.#next = this.#running.then(after, after);
    }
    return this.#next;
  }

  #start(): Promise<void> {
    const running = this.#sync().finally(() => {
      if (this.#running === running) this.#running = null;
    });
    this.#running = running;
    return running;
  }
}
