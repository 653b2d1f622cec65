// Ambient declarations of `k6/x/mqtt`, the module the xk6-mqtt extension adds to a k6 binary built
// with it (xk6 build --with github.com/grafana/xk6-mqtt). Our own text, written from the extension's
// index.d.ts in grafana/xk6-mqtt at commit 13513d71 (the API of its v0.1/v0.2 releases: an
// MQTT.js-like Client driven by events, each VU running an event loop until the client ends). It
// declares what `npm run k6:export` scripts use and little more; a script using anything else fails
// its type-check (k6/k6-scripts.test.ts), which is the point. Not declared: the client id option,
// whose spelling the extension changed between releases (the scripts leave it to the broker).

declare module 'k6/x/mqtt' {
  /** Delivery guarantee of a publish or subscription. */
  export enum QoS {
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
  }

  /** Tags added to the extension's own metrics for this call. */
  interface Tagged {
    tags?: Record<string, string>;
  }

  export interface ClientOptions extends Tagged {
    username?: string;
    password?: string;
  }

  export interface ConnectOptions extends Tagged {
    /** Seconds (default 60). */
    keepalive?: number;
    /** Milliseconds (default 30000). */
    connect_timeout?: number;
    clean_session?: boolean;
    /** Brokers to fail over between. */
    servers?: string[];
  }

  export interface PublishOptions extends Tagged {
    /** Default: at most once. */
    qos?: QoS;
    retain?: boolean;
  }

  export interface SubscribeOptions extends Tagged {
    qos?: QoS;
  }

  /** What an `error` listener receives. */
  export interface MQTTError {
    name: 'MQTTError';
    message: string;
    /** The client method that failed. */
    method: string;
  }

  export class Client {
    constructor(options?: ClientOptions);
    readonly connected: boolean;
    /** mqtt://, mqtts://, tcp://, ssl://, tls://, ws:// or wss:// URL; returns at once, `connect` fires when connected. */
    connect(url: string | ConnectOptions, options?: ConnectOptions): void;
    end(options?: Tagged): void;
    endAsync(options?: Tagged): Promise<void>;
    reconnect(): void;
    subscribe(topic: string | string[] | SubscribeOptions, options?: SubscribeOptions): void;
    subscribeAsync(topic: string | string[] | SubscribeOptions, options?: SubscribeOptions): Promise<void>;
    unsubscribe(topics: string | string[], options?: Tagged): void;
    unsubscribeAsync(topics: string | string[], options?: Tagged): Promise<void>;
    publish(topic: string, payload: string | ArrayBuffer, options?: PublishOptions): void;
    /** Resolves when the publish is complete (at QoS 1: when the broker has acknowledged it). */
    publishAsync(topic: string, payload: string | ArrayBuffer, options?: PublishOptions): Promise<void>;
    on(event: 'connect' | 'end' | 'reconnect', listener: () => void): void;
    on(event: 'message', listener: (topic: string, payload: ArrayBuffer) => void): void;
    on(event: 'error', listener: (error: MQTTError) => void): void;
  }
}
