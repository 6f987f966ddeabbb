/** Anything with an event time in ms. */
export interface Timed {
  time: number;
}

/** A binary min-heap on (time, arrival order), so equal times keep their input order. */
class TimeHeap<T extends Timed> {
  private readonly items: { value: T; sequence: number }[] = [];
  private sequence = 0;

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0]?.value;
  }

  push(value: T): void {
    const items = this.items;
    items.push({ value, sequence: this.sequence++ });
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.before(index, parent)) break;
      [items[index], items[parent]] = [items[parent], items[index]];
      index = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        const right = left + 1;
        let smallest = index;
        if (left < items.length && this.before(left, smallest)) smallest = left;
        if (right < items.length && this.before(right, smallest)) smallest = right;
        if (smallest === index) break;
        [items[index], items[smallest]] = [items[smallest], items[index]];
        index = smallest;
      }
    }
    return top?.value;
  }

  private before(a: number, b: number): boolean {
    const x = this.items[a];
    const y = this.items[b];
    return x.value.time < y.value.time || (x.value.time === y.value.time && x.sequence < y.sequence);
  }
}

/**
 * Sort a nearly ordered stream by time with a bounded buffer. An event is released once an
 * event more than `windowMs` newer has been read, so lines written up to `windowMs` out of
 * order (a decision line is written when the app answers, not when the login arrived) come
 * out in order. An event later than that comes out when it is read, out of order.
 */
export async function* orderByTime<T extends Timed>(events: AsyncIterable<T>, windowMs: number): AsyncGenerator<T> {
  const heap = new TimeHeap<T>();
  let newest = Number.NEGATIVE_INFINITY;
  for await (const event of events) {
    heap.push(event);
    if (event.time > newest) newest = event.time;
    while (heap.size > 0 && heap.peek()!.time < newest - windowMs) yield heap.pop()!;
  }
  while (heap.size > 0) yield heap.pop()!;
}

/** Merge streams that are each in time order into one, as from several gateways' logs. */
export async function* mergeByTime<T extends Timed>(sources: AsyncIterable<T>[]): AsyncGenerator<T> {
  if (sources.length === 1) {
    yield* sources[0];
    return;
  }
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  const heads = new TimeHeap<T>();
  const owners = new Map<T, number>();

  const advance = async (index: number) => {
    const next = await iterators[index].next();
    if (!next.done) {
      owners.set(next.value, index);
      heads.push(next.value);
    }
  };
  await Promise.all(iterators.map((_, index) => advance(index)));

  while (heads.size > 0) {
    const event = heads.pop()!;
    const index = owners.get(event)!;
    owners.delete(event);
    yield event;
    await advance(index);
  }
}
