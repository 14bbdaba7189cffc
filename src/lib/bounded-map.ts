/**
 * A Map that keeps at most `max` entries, the least recently used dropped first: for caches
 * keyed by what clients send (statement shapes, select lists), so a client sending ever new
 * keys cannot grow it without bound, and the keys in use stay in it.
 */
export class BoundedMap<K, V> {
  readonly #entries = new Map<K, V>();
  constructor(readonly max: number) {}

  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    // A Map iterates in insertion order: re-inserting makes this entry the newest.
    if (value !== undefined && this.#entries.size > 1) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): this {
    this.#entries.delete(key);
    if (this.#entries.size >= this.max) this.#entries.delete(this.#entries.keys().next().value as K);
    this.#entries.set(key, value);
    return this;
  }
}
