import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../../src/lib/bounded-map.js';

describe('BoundedMap', () => {
  it('keeps at most max entries, dropping the least recently used', () => {
    const m = new BoundedMap<string, number>(3);
    m.set('a', 1).set('b', 2).set('c', 3);
    expect(m.get('a')).toBe(1); // a is now the newest: b is the oldest
    m.set('d', 4);
    expect(m.size).toBe(3);
    expect(m.get('b')).toBeUndefined();
    expect([m.get('a'), m.get('c'), m.get('d')]).toEqual([1, 3, 4]);
    // Setting an existing key replaces it without evicting another.
    m.set('c', 30);
    expect(m.size).toBe(3);
    expect([m.get('a'), m.get('c'), m.get('d')]).toEqual([1, 30, 4]);
  });

  it('a stream of new keys never grows it, and a key in use survives the stream', () => {
    const m = new BoundedMap<string, number>(8);
    m.set('hot', 0);
    for (let i = 0; i < 10_000; i++) {
      m.set(`k${i}`, i);
      expect(m.get('hot')).toBe(0);
    }
    expect(m.size).toBe(8);
  });
});
