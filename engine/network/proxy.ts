// A TCP proxy between MQTT clients and the broker, with Toxiproxy-style toxics added and removed
// at run time: latency (+ jitter), bandwidth, slicer, timeout (a partition: data held, or the
// connection closed after a while) and reset-peer. Each toxic applies to a connection with
// probability `toxicity`, decided once per (connection, toxic) from a seeded random source.
// Like Toxiproxy, it never drops bytes of a live connection on the floor: held data is delivered
// when the toxic goes away, unless the toxic's point is to kill the connection.

import net from 'node:net';
import { deriveSeed, seededRandom } from '../../aggregator/random.ts';

export type Direction = 'upstream' | 'downstream';

export type ToxicSpec =
  | { type: 'latency'; latency_ms: number; jitter_ms: number }
  | { type: 'bandwidth'; rate_kb_s: number }
  | { type: 'slicer'; average_size: number; size_variation: number; delay_us: number }
  /** Hold every byte while active; if timeout_ms > 0, close the connection after that long. */
  | { type: 'timeout'; timeout_ms: number }
  /** Reset the connection (TCP RST) timeout_ms after the toxic is added or the connection opens. */
  | { type: 'reset-peer'; timeout_ms: number };

export interface Toxic {
  id: string;
  spec: ToxicSpec;
  /** upstream = client → broker, downstream = broker → client. */
  directions: Direction[];
  toxicity: number;
  seed: number;
}

export interface ToxicCounts {
  connections_affected: number;
  resets: number;
  closed: number;
}

/** Pause a source socket when this many bytes wait in its pipe. */
const HIGH_WATER_BYTES = 1 << 20;

class Pipe {
  private readonly queue: { data: Buffer; at: number }[] = [];
  private queued = 0;
  private busy = false;
  private lastDeliverAt = 0;
  /** The source half-closed: end the destination once everything queued has been delivered. */
  private ended = false;

  constructor(
    private readonly connection: ProxyConnection,
    private readonly direction: Direction,
    private readonly source: net.Socket,
    private readonly destination: net.Socket,
  ) {
    source.on('data', (data: Buffer) => this.push(data));
    source.on('end', () => {
      this.ended = true;
      void this.pump();
    });
  }

  /** Write, and wait while the destination's own buffer is full: a slow reader slows the writer. */
  private async write(data: Buffer): Promise<void> {
    if (this.destination.write(data) || this.connection.closed) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.destination.off('drain', done);
        this.destination.off('close', done);
        resolve();
      };
      this.destination.on('drain', done);
      this.destination.on('close', done);
    });
  }

  private push(data: Buffer): void {
    this.queue.push({ data, at: Date.now() });
    this.queued += data.length;
    if (this.queued > HIGH_WATER_BYTES) this.source.pause();
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length > 0 && !this.connection.closed) {
        // A partition holds everything, in order, until it heals (or the connection is closed).
        while (this.connection.held(this.direction) && !this.connection.closed) await sleep(5);
        const { data, at } = this.queue[0]!;
        let deliverAt = at;
        let slicer: Extract<ToxicSpec, { type: 'slicer' }> | undefined;
        for (const toxic of this.connection.active(this.direction)) {
          const spec = toxic.spec;
          if (spec.type === 'latency') deliverAt = Math.max(deliverAt, at + spec.latency_ms + this.connection.random(toxic) * spec.jitter_ms);
          else if (spec.type === 'bandwidth') deliverAt = Math.max(deliverAt, this.lastDeliverAt) + (data.length / (spec.rate_kb_s * 1024)) * 1000;
          else if (spec.type === 'slicer') slicer = spec;
        }
        const wait = deliverAt - Date.now();
        if (wait > 0) await sleep(wait);
        if (this.connection.closed) break;
        if (slicer) await this.writeSliced(data, slicer, this.connection.randomFor(`slicer.${this.direction}`));
        else await this.write(data);
        this.lastDeliverAt = Math.max(deliverAt, Date.now());
        this.queue.shift();
        this.queued -= data.length;
        if (this.queued <= HIGH_WATER_BYTES / 2 && this.source.isPaused()) this.source.resume();
      }
      if (this.ended && this.queue.length === 0 && !this.connection.closed) this.destination.end();
    } finally {
      this.busy = false;
    }
  }

  private async writeSliced(data: Buffer, spec: Extract<ToxicSpec, { type: 'slicer' }>, random: () => number): Promise<void> {
    for (let offset = 0; offset < data.length && !this.connection.closed; ) {
      const size = Math.max(1, Math.round(spec.average_size + (random() * 2 - 1) * spec.size_variation));
      await this.write(data.subarray(offset, offset + size));
      offset += size;
      if (spec.delay_us > 0 && offset < data.length) await sleep(spec.delay_us / 1000);
    }
  }
}

class ProxyConnection {
  closed = false;
  private readonly decided = new Map<string, boolean>();
  private readonly randoms = new Map<string, () => number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly toxicTimers = new Map<string, NodeJS.Timeout>();

  constructor(
    readonly id: number,
    private readonly proxy: ToxicProxy,
    readonly client: net.Socket,
    readonly upstream: net.Socket,
  ) {
    new Pipe(this, 'upstream', client, upstream);
    new Pipe(this, 'downstream', upstream, client);
    // Half-closes pass through (each pipe ends its destination once it has delivered everything);
    // the connection is done when both sockets have closed, or at once on an error.
    const close = () => this.close();
    let closedSockets = 0;
    for (const socket of [client, upstream]) {
      socket.on('error', close);
      socket.on('close', () => {
        if (++closedSockets === 2) close();
      });
    }
    for (const toxic of proxy.toxics()) this.onToxicAdded(toxic);
  }

  /** Seeded per (connection, toxic): the same run affects the same connections. */
  randomFor(label: string): () => number {
    let random = this.randoms.get(label);
    if (!random) {
      random = seededRandom(deriveSeed(this.proxy.seed, `${this.proxy.name}.conn${this.id}.${label}`));
      this.randoms.set(label, random);
    }
    return random;
  }

  random(toxic: Toxic): number {
    return this.randomFor(`${toxic.id}.jitter`)();
  }

  affected(toxic: Toxic): boolean {
    let hit = this.decided.get(toxic.id);
    if (hit === undefined) {
      hit = seededRandom(deriveSeed(toxic.seed, `${this.proxy.name}.conn${this.id}`))() < toxic.toxicity;
      this.decided.set(toxic.id, hit);
      if (hit) this.proxy.countFor(toxic.id).connections_affected++;
    }
    return hit;
  }

  active(direction: Direction): Toxic[] {
    return this.proxy.toxics().filter((t) => t.directions.includes(direction) && this.affected(t));
  }

  held(direction: Direction): boolean {
    return this.active(direction).some((t) => t.spec.type === 'timeout');
  }

  onToxicAdded(toxic: Toxic): void {
    if (!this.affected(toxic)) return;
    const spec = toxic.spec;
    if ((spec.type === 'timeout' && spec.timeout_ms > 0) || spec.type === 'reset-peer') {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.toxicTimers.delete(toxic.id);
        if (!this.proxy.hasToxic(toxic.id)) return;
        if (spec.type === 'reset-peer') {
          this.proxy.countFor(toxic.id).resets++;
          this.client.resetAndDestroy();
          this.upstream.resetAndDestroy();
        } else {
          this.proxy.countFor(toxic.id).closed++;
          this.close();
        }
      }, spec.timeout_ms);
      this.timers.add(timer);
      this.toxicTimers.set(toxic.id, timer);
    }
  }

  /** A removed toxic's pending action and its affected/not decision go with it (an id may be reused). */
  onToxicRemoved(id: string): void {
    const timer = this.toxicTimers.get(id);
    if (timer) {
      clearTimeout(timer);
      this.timers.delete(timer);
      this.toxicTimers.delete(id);
    }
    this.decided.delete(id);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.client.destroy();
    this.upstream.destroy();
    this.proxy.forget(this);
  }
}

export class ToxicProxy {
  private readonly server: net.Server;
  private readonly connections = new Set<ProxyConnection>();
  private readonly active = new Map<string, Toxic>();
  private nextId = 0;
  /** Connections accepted over the proxy's life. */
  connections_accepted = 0;
  private readonly perToxic = new Map<string, ToxicCounts>();
  port = 0;

  private constructor(
    readonly name: string,
    private readonly upstream: { host: string; port: number },
    readonly seed: number,
  ) {
    this.server = net.createServer({ allowHalfOpen: true }, (client) => {
      const upstream = net.connect({ ...this.upstream, allowHalfOpen: true });
      client.pause();
      upstream.once('connect', () => client.resume());
      this.connections_accepted++;
      this.connections.add(new ProxyConnection(this.nextId++, this, client, upstream));
    });
  }

  /** Listens on an ephemeral port of 127.0.0.1 and forwards to the broker's host and port. */
  static async start(name: string, upstream: { host: string; port: number }, seed: number): Promise<ToxicProxy> {
    const proxy = new ToxicProxy(name, upstream, seed);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen({ port: 0, host: '127.0.0.1' }, () => resolve());
    });
    proxy.port = (proxy.server.address() as net.AddressInfo).port;
    return proxy;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** What a toxic did so far: connections it applied to, resets, connections it closed. */
  countFor(id: string): ToxicCounts {
    let counts = this.perToxic.get(id);
    if (!counts) {
      counts = { connections_affected: 0, resets: 0, closed: 0 };
      this.perToxic.set(id, counts);
    }
    return counts;
  }

  toxics(): Toxic[] {
    return [...this.active.values()];
  }

  hasToxic(id: string): boolean {
    return this.active.has(id);
  }

  add(toxic: Toxic): void {
    this.active.set(toxic.id, toxic);
    for (const connection of this.connections) connection.onToxicAdded(toxic);
  }

  remove(id: string): void {
    this.active.delete(id);
    for (const connection of this.connections) connection.onToxicRemoved(id);
  }

  forget(connection: ProxyConnection): void {
    this.connections.delete(connection);
  }

  async stop(): Promise<void> {
    this.active.clear();
    for (const connection of this.connections) connection.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
