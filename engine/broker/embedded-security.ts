// Security of the embedded broker, for tests of secured setups: user names and passwords, topic
// ACLs per client id, TLS and mutual TLS. Plain data (it crosses the IPC channel to the broker
// child, never argv) and the Aedes hooks made from it. Absent parts are open: no users = anyone
// connects, no ACL = any topic, no TLS = plain TCP.
//
// Invariants: a password is compared in constant time and never written anywhere; with an ACL, a
// client id it does not name may neither publish nor subscribe; a refused publish closes the
// client's connection (Aedes' behaviour) and reaches no subscriber; a refused subscription is
// answered with SUBACK failure (0x80).

import { createHash, timingSafeEqual } from 'node:crypto';
import type { AedesOptions } from 'aedes';

export interface EmbeddedBrokerSecurity {
  /** user name → password. Present: CONNECT must carry one of these pairs (else CONNACK 4, bad user name or password). */
  users?: Record<string, string>;
  /** client id → the topic filters it may publish to and subscribe to. Present: anything else is refused. */
  acl?: Record<string, string[]>;
  /** Listen with TLS (mqtts): PEM text of the server's certificate and key. */
  tls?: {
    cert: string;
    key: string;
    /** mTLS: PEM of the CA(s) a client certificate must be signed by; with it, a client without a valid certificate is refused in the handshake. */
    client_ca?: string;
  };
}

/** The problems of a security section, or [] (the child refuses to start on any). */
export function securityProblems(security: EmbeddedBrokerSecurity | undefined): string[] {
  if (security === undefined) return [];
  const problems: string[] = [];
  for (const [user, password] of Object.entries(security.users ?? {})) {
    if (user === '' || typeof password !== 'string' || password === '') problems.push(`security.users: user ${JSON.stringify(user)} needs a non-empty user name and password`);
  }
  for (const [client, filters] of Object.entries(security.acl ?? {})) {
    if (!Array.isArray(filters) || filters.some((filter) => !validFilter(filter))) problems.push(`security.acl.${client}: must be a list of valid MQTT topic filters`);
  }
  if (security.tls !== undefined && (!security.tls.cert || !security.tls.key)) problems.push('security.tls needs cert and key (PEM text)');
  return problems;
}

function validFilter(filter: unknown): boolean {
  if (typeof filter !== 'string' || filter === '') return false;
  const levels = filter.split('/');
  return levels.every((level, i) => (level.includes('#') ? level === '#' && i === levels.length - 1 : !level.includes('+') || level === '+'));
}

/** Whether the allowed filter covers `wanted` (a topic, or a subscription's filter): every topic `wanted` matches, `allowed` matches too. */
export function filterCovers(allowed: string, wanted: string): boolean {
  const a = allowed.split('/');
  const w = wanted.split('/');
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '#') return !(i === 0 && w[0]?.startsWith('$')) && w.length >= i;
    if (i >= w.length) return false;
    if (a[i] === '+') {
      if (w[i] === '#' || (i === 0 && w[0]!.startsWith('$'))) return false;
      continue;
    }
    if (a[i] !== w[i]) return false;
  }
  return a.length === w.length;
}

const digest = (text: string | Buffer): Buffer => createHash('sha256').update(text).digest();

/** The Aedes hooks that enforce `security` (users and ACL; TLS is the listener's, see embedded-process.ts). */
export function aedesSecurityHooks(security: EmbeddedBrokerSecurity | undefined): Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'> {
  const hooks: Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'> = {};
  const users = security?.users;
  if (users !== undefined) {
    const digests = new Map(Object.entries(users).map(([user, password]) => [user, digest(password)]));
    hooks.authenticate = (_client, username, password, done) => {
      const expected = username === undefined ? undefined : digests.get(username);
      const given = digest(password ?? Buffer.alloc(0));
      // Compared even for an unknown user, so that the answer takes as long.
      const match = timingSafeEqual(given, expected ?? digest('\0unknown')) && expected !== undefined;
      if (match) return done(null, true);
      done(Object.assign(new Error('bad user name or password'), { returnCode: 4 as const }), false);
    };
  }
  const acl = security?.acl;
  if (acl !== undefined) {
    const allowed = (clientId: string | undefined, wanted: string) => (acl[clientId ?? ''] ?? []).some((filter) => filterCovers(filter, wanted));
    hooks.authorizePublish = (client, packet, done) => {
      // client null: the broker's own messages ($SYS, wills are published with their client).
      if (client === null || allowed(client.id, packet.topic)) return done(null);
      done(new Error(`client ${client.id} may not publish to ${packet.topic}`));
    };
    hooks.authorizeSubscribe = (client, subscription, done) => {
      done(null, allowed(client.id, subscription.topic) ? subscription : null);
    };
  }
  return hooks;
}
