// The harness's mqtt.js client (the broker probe; the publishers have their own lean client,
// engine/load/publishers.ts) connects with a BrokerAccess
// (aggregator/consumer/access.ts): this turns it into mqtt.js options, and a failed connect into a
// message that says what went wrong — TLS handshake, credentials refused, or unreachable — without
// the password (mqtt.js never puts it in an error; the URL we pass never carries it).

import tls from 'node:tls';
import net from 'node:net';
import type { IClientOptions } from 'mqtt';
import { describeConnackRefusal, PLAIN_ACCESS, type BrokerAccess } from '../../aggregator/consumer/access.ts';

/** The mqtt.js options for version, credentials and TLS; the caller adds client id, clean, timeouts. */
export function mqttClientOptions(access: BrokerAccess = PLAIN_ACCESS): IClientOptions {
  const verifyHost = access.verify_host;
  return {
    protocolVersion: access.mqtt_version,
    ...(access.username !== undefined ? { username: access.username } : {}),
    ...(access.password !== undefined ? { password: access.password } : {}),
    ...(access.ca !== undefined ? { ca: access.ca } : {}),
    ...(access.cert !== undefined ? { cert: access.cert } : {}),
    ...(access.key !== undefined ? { key: access.key } : {}),
    rejectUnauthorized: true,
    ...(verifyHost !== undefined
      ? {
          ...(net.isIP(verifyHost) === 0 ? { servername: verifyHost } : {}),
          checkServerIdentity: (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(verifyHost, cert),
        }
      : {}),
  };
}

/** What kind of failure a connect attempt met: the caller words its message around it. */
export type ConnectFailure = 'refused' | 'tls' | 'unreachable';

/**
 * Classifies an mqtt.js connect error: a CONNACK refusal (mqtt.js gives its code as a number), a
 * TLS error (OpenSSL's and Node's certificate codes), or anything else (the TCP connection, a
 * timeout): unreachable.
 */
export function classifyConnectError(error: unknown, access: BrokerAccess = PLAIN_ACCESS): { kind: ConnectFailure; message: string } {
  const err = error as NodeJS.ErrnoException & { code?: string | number };
  if (typeof err.code === 'number' && err.code !== 0) {
    return { kind: 'refused', message: `the broker refused the connection: ${describeConnackRefusal(err.code, access.mqtt_version)}` };
  }
  const code = typeof err.code === 'string' ? err.code : '';
  // OpenSSL's own errors come as "…:SSL routines:FUNCTION:reason:file:line…": the reason is what a person needs.
  const text = (err.message ?? String(error)).replace(/^[\s\S]*?SSL routines:[^:]*:([^:]+):[\s\S]*$/, '$1').trim();
  if (/^ERR_SSL_|^ERR_TLS_|CERT|^DEPTH_ZERO|^UNABLE_TO_|^SELF_SIGNED|^HOSTNAME_MISMATCH/.test(code) || /ssl|tls|certificate/i.test(text)) {
    return { kind: 'tls', message: `TLS handshake failed: ${text}${code && !text.includes(code) ? ` (${code})` : ''}` };
  }
  return { kind: 'unreachable', message: text };
}
