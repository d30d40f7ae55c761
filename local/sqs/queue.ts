import type { QueueModel, SqsMessageAttribute } from '../model.js';
import { Fifo } from './fifo.js';
import { type HeapItem, IndexedHeap } from './heap.js';

export const VISIBLE = 0;
export const IN_FLIGHT = 1;
export const DELAYED = 2;
export const GONE = 3;
export type MessageState = typeof VISIBLE | typeof IN_FLIGHT | typeof DELAYED | typeof GONE;

/** Where a message's send record lies in the state log (byte offset and length of its line). */
export interface BodyLocation {
  readonly offset: number;
  readonly length: number;
}

/** Where a message's body is: in memory (`text`), or else in its send record in the log (`loc`). */
export interface StoredBody {
  readonly id: string;
  readonly text: string | undefined;
  readonly loc: BodyLocation | undefined;
}

/** One message in one queue. Moving it to another queue makes a copy, so stale index entries stay inert. */
export class Message implements HeapItem, StoredBody {
  heapIndex = -1;
  /** GONE until a queue adds it. */
  state: MessageState = GONE;
  /** Enqueue order in its queue (message move tasks move what was there at their start). */
  seq = 0;
  receiveCount = 0;
  firstReceiveAt = 0;
  /** Wall-clock ms when an in-flight or delayed message becomes visible. */
  visibleAt = 0;
  /** Token of the latest receive; only a handle carrying it may delete the message. */
  receipt = '';
  /**
   * The body while it is held in memory. Once its send record is written (`loc`), the store may
   * drop it to keep memory flat under a backlog and read it back from the log on receive.
   */
  text: string | undefined;
  /** Body length in UTF-16 units, also when the body is not in memory. */
  size: number;
  /** The send record (in the current log file) that carries the body, once written. */
  loc: BodyLocation | undefined = undefined;

  constructor(
    readonly id: string,
    body: string,
    readonly md5: string,
    readonly attributes: Record<string, SqsMessageAttribute> | undefined,
    readonly attributesMd5: string | undefined,
    readonly sentAt: number,
    /** ARN of the queue that dead-lettered it here. */
    readonly origin: string | undefined,
  ) {
    this.text = body;
    this.size = body.length;
  }

  /** A copy for another queue; `reset` clears the receive history (message move tasks). */
  copy(origin: string | undefined, reset: boolean): Message {
    const m = new Message(this.id, '', this.md5, this.attributes, this.attributesMd5, this.sentAt, origin);
    m.text = this.text;
    m.size = this.size;
    m.loc = this.loc;
    if (!reset) {
      m.receiveCount = this.receiveCount;
      m.firstReceiveAt = this.firstReceiveAt;
    }
    return m;
  }
}

/**
 * In-memory state of one queue, with no I/O: messages in enqueue order, a FIFO of visible messages
 * (entries of removed messages are skipped when reached) and a heap of in-flight and delayed ones by
 * the time they become visible. Every operation is O(1) or O(log n).
 */
export class Queue {
  readonly messages = new Map<string, Message>();
  visible = 0;
  inFlight = 0;
  delayed = 0;
  /** Approximate bytes of live message bodies (drives log compaction). */
  bytes = 0;
  private readonly ready = new Fifo<Message>();
  private readonly timed = new IndexedHeap<Message>((m) => m.visibleAt);
  private nextSeq = 1;

  constructor(
    readonly model: QueueModel,
    /** In the state folder but no longer in the templates: kept, not addressable. */
    readonly orphan = false,
  ) {}

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  add(m: Message, state: MessageState): void {
    m.seq = this.nextSeq++;
    this.messages.set(m.id, m);
    this.bytes += m.size + 200;
    if (state === VISIBLE) this.makeVisible(m);
    else if (state !== GONE) this.makeTimed(m, state, m.visibleAt);
  }

  /** Next visible message, taken out of the visible set (the caller makes it in flight or removes it). */
  takeVisible(): Message | undefined {
    for (;;) {
      const m = this.ready.shift();
      if (m === undefined) return undefined;
      if (m.state !== VISIBLE) continue;
      this.visible--;
      // Parked as in flight "now"; the caller sets the real deadline through makeTimed.
      m.state = IN_FLIGHT;
      this.inFlight++;
      return m;
    }
  }

  makeVisible(m: Message): void {
    this.leave(m);
    m.state = VISIBLE;
    this.visible++;
    this.ready.push(m);
  }

  makeTimed(m: Message, state: typeof IN_FLIGHT | typeof DELAYED, visibleAt: number): void {
    if (m.state === VISIBLE) {
      // Still in the FIFO: that entry is skipped once the state is no longer VISIBLE.
      this.visible--;
    } else if (m.state === IN_FLIGHT) this.inFlight--;
    else if (m.state === DELAYED) this.delayed--;
    m.state = state;
    m.visibleAt = visibleAt;
    if (state === IN_FLIGHT) this.inFlight++;
    else this.delayed++;
    this.timed.update(m);
  }

  remove(m: Message): void {
    if (this.messages.get(m.id) !== m) return;
    this.messages.delete(m.id);
    this.bytes -= m.size + 200;
    this.leave(m);
    m.state = GONE;
  }

  /** Makes due in-flight and delayed messages visible; returns how many. */
  release(now: number): number {
    let n = 0;
    for (let top = this.timed.peek(); top !== undefined && top.visibleAt <= now; top = this.timed.peek()) {
      this.makeVisible(top);
      n++;
    }
    return n;
  }

  /** Renumbers enqueue sequences 1..n in order, as replaying a snapshot would. */
  renumber(): void {
    let seq = 1;
    for (const m of this.messages.values()) m.seq = seq++;
    this.nextSeq = seq;
  }

  nextDeadline(): number | undefined {
    return this.timed.peek()?.visibleAt;
  }

  purge(): number {
    const n = this.messages.size;
    for (const m of this.messages.values()) m.state = GONE;
    this.messages.clear();
    this.ready.clear();
    this.timed.clear();
    this.visible = this.inFlight = this.delayed = this.bytes = 0;
    return n;
  }

  /**
   * Drops messages past the retention period. Messages are checked from the oldest enqueued on; `full`
   * checks all (a dead-lettered message keeps its original SentTimestamp, so order is only nearly sorted).
   */
  expire(now: number, full: boolean): number {
    const cutoff = now - this.model.messageRetentionSeconds * 1000;
    let n = 0;
    for (const m of this.messages.values()) {
      if (m.sentAt <= cutoff) {
        this.remove(m);
        n++;
      } else if (!full) break;
    }
    return n;
  }

  private leave(m: Message): void {
    if (m.state === VISIBLE) this.visible--;
    else if (m.state === IN_FLIGHT) this.inFlight--;
    else if (m.state === DELAYED) this.delayed--;
    if (m.heapIndex >= 0) this.timed.remove(m);
    m.state = GONE;
  }
}
