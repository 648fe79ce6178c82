/**
 * A column of numbers indexed from a moving base, stored in fixed pages of a
 * typed array. Why pages: the index holds millions of entries, so growth must
 * not copy (or double) the whole array, and promotion must give memory back
 * from the front by dropping whole pages.
 */
const PAGE_SHIFT = 16;
const PAGE_SIZE = 1 << PAGE_SHIFT;

type Page = Float64Array | Uint32Array;

export class PagedColumn<T extends Page> {
  readonly #make: (n: number) => T;
  readonly #pages: (T | undefined)[] = [];
  /** Page number of #pages[0]. */
  #firstPage = 0;

  constructor(make: (n: number) => T) {
    this.#make = make;
  }

  static float64(): PagedColumn<Float64Array> {
    return new PagedColumn((n) => new Float64Array(n));
  }

  static uint32(): PagedColumn<Uint32Array> {
    return new PagedColumn((n) => new Uint32Array(n));
  }

  get(index: number): number {
    // Bit operations while the index fits 32 bits (always, in practice): this is the index's hot path.
    const page = index < 4294967296 ? this.#pages[(index >>> PAGE_SHIFT) - this.#firstPage] : this.#pages[Math.floor(index / PAGE_SIZE) - this.#firstPage];
    return page === undefined ? 0 : page[index < 4294967296 ? (index & (PAGE_SIZE - 1)) >>> 0 : index % PAGE_SIZE]!;
  }

  set(index: number, value: number): void {
    const p = Math.floor(index / PAGE_SIZE) - this.#firstPage;
    let page = this.#pages[p];
    if (page === undefined) {
      while (this.#pages.length <= p) this.#pages.push(undefined);
      page = this.#pages[p] = this.#make(PAGE_SIZE);
    }
    page[index % PAGE_SIZE] = value;
  }

  /** Frees every page that holds only indexes below `index`. */
  dropBefore(index: number): void {
    const keepFrom = Math.floor(index / PAGE_SIZE);
    while (this.#firstPage < keepFrom && this.#pages.length > 0) {
      this.#pages.shift();
      this.#firstPage++;
    }
    if (this.#pages.length === 0) this.#firstPage = Math.max(this.#firstPage, keepFrom);
  }

  /** Copies indexes [from, to) into a flat array (for the index snapshot). */
  slice(from: number, to: number, out: T): T {
    for (let i = from; i < to; i++) out[i - from] = this.get(i);
    return out;
  }

  /** Bytes held by the pages. */
  get bytes(): number {
    let n = 0;
    for (const p of this.#pages) if (p) n += p.byteLength;
    return n;
  }
}
