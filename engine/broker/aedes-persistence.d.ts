// aedes-persistence's own typings cover its default export only; these are the two modules
// indexed-outgoing.ts builds on (the memory store it subclasses, the callback facade Aedes calls).
declare module 'aedes-persistence/asyncPersistence.js' {
  import type { Readable } from 'node:stream';

  export class Packet {
    constructor(original: object, broker?: unknown);
    brokerId?: string;
    brokerCounter?: number;
    messageId?: number;
  }

  export default class MemoryPersistence {
    constructor(opts?: object);
    setup(broker: unknown): Promise<void>;
    outgoingEnqueue(sub: { clientId: string }, packet: object): Promise<void>;
    outgoingEnqueueCombi(subs: { clientId: string }[], packet: object): Promise<void>;
    outgoingUpdate(client: { id: string }, packet: object): Promise<void>;
    outgoingClearMessageId(client: { id: string }, packet: object): Promise<unknown>;
    outgoingStream(client: { id: string }): Readable;
    destroy(): Promise<void>;
  }
}

declare module 'aedes-persistence/callBackPersistence.js' {
  export class CallBackPersistence {
    constructor(asyncInstanceFactory: (opts: object) => unknown, opts?: object);
  }
}
