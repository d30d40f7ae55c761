/** An element of an {@link IndexedHeap}: the heap keeps `heapIndex` current so removal is O(log n). */
export interface HeapItem {
  /** Position in the heap, -1 when not in it. */
  heapIndex: number;
}

/**
 * Binary min-heap with O(log n) removal of any element. Used for in-flight and delayed messages,
 * keyed by the wall-clock time they become visible: deleting an in-flight message removes it at once,
 * so the heap never fills with stale entries at high throughput.
 */
export class IndexedHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  constructor(private readonly key: (item: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  remove(item: T): void {
    const i = item.heapIndex;
    if (i < 0 || this.items[i] !== item) return;
    const last = this.items.pop() as T;
    item.heapIndex = -1;
    if (i === this.items.length) return;
    this.items[i] = last;
    last.heapIndex = i;
    this.down(i);
    this.up(last.heapIndex);
  }

  /** Re-positions an element whose key changed. */
  update(item: T): void {
    if (item.heapIndex < 0) {
      this.push(item);
      return;
    }
    this.up(item.heapIndex);
    this.down(item.heapIndex);
  }

  clear(): void {
    for (const item of this.items) item.heapIndex = -1;
    this.items.length = 0;
  }

  private up(index: number): void {
    const items = this.items;
    let i = index;
    const item = items[i] as T;
    const k = this.key(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as T;
      if (this.key(parent) <= k) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  private down(index: number): void {
    const items = this.items;
    const n = items.length;
    let i = index;
    const item = items[i] as T;
    const k = this.key(item);
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.key(items[r] as T) < this.key(items[l] as T)) c = r;
      const child = items[c] as T;
      if (this.key(child) >= k) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}
