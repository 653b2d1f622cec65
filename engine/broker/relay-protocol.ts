// What the relay's parent (relay.ts) and child (relay-process.ts) share. It lives apart from both:
// importing relay-process.ts runs the child (it exits when it has no IPC channel), and relay-process.ts
// must not import relay.ts (tests/import-cycles.test.ts).

/** What the relay answers a subscription to $SYS/broker/version with: run reports name it as the broker. */
export const RELAY_SOFTWARE = 'chaosbench relay (measurement fixture, not a broker)';

/** Child → parent. */
export type RelayChildMessage = { type: 'ready'; port: number } | { type: 'error'; message: string };
