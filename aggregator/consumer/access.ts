// How to reach an MQTT broker beyond its host and port: the protocol version (3.1.1 or 5), TLS
// material (CA, client certificate and key, as PEM text) and a user name and password. Plain data:
// it crosses the IPC channel to the aggregator child and the structured clone to the load workers.
// Shared by the aggregator's own command and the harness (which imports it; the aggregator imports
// nothing from the harness).
//
// Invariants: a broker URL kept or printed never carries a password (resolveBrokerAccess takes the
// password out of it, or refuses it where it came from argv); the password lives only in
// BrokerAccess.password and no message made here contains it.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { redactPassword } from '../redact.ts';

/** MQTT protocol level: 4 is MQTT 3.1.1, 5 is MQTT 5. */
export type MqttVersion = 4 | 5;

export interface BrokerAccess {
  mqtt_version: MqttVersion;
  username?: string;
  password?: string;
  /** PEM text of the CA(s) that signed the broker's certificate (mqtts); absent: the system's CAs. */
  ca?: string;
  /** PEM text of the client certificate and its private key (mqtts with a client certificate). */
  cert?: string;
  key?: string;
  /**
   * mqtts through a proxy of the harness: the host name the broker's certificate must name (the
   * URL then names the proxy). Absent: the URL's host.
   */
  verify_host?: string;
}

/** No TLS material, no credentials, MQTT 3.1.1: what a bare mqtt://host:port needs. */
export const PLAIN_ACCESS: BrokerAccess = { mqtt_version: 4 };

/** Environment variables read by resolveBrokerAccess (the flags win over them). */
export const BROKER_ENV = {
  ca: 'CHAOSBENCH_BROKER_CA',
  cert: 'CHAOSBENCH_BROKER_CERT',
  key: 'CHAOSBENCH_BROKER_KEY',
  username: 'CHAOSBENCH_BROKER_USERNAME',
  password: 'CHAOSBENCH_BROKER_PASSWORD',
} as const;

export interface BrokerAccessInput {
  /** The broker URL as given: mqtt://[user[:password]@]host:port or mqtts://… */
  url: string;
  /** Where the URL came from: a password in a flag's value would sit in the process list, so it is refused there. */
  url_from: 'flag' | 'env';
  /** The name errors about the URL use (--broker). */
  url_field: string;
  /** Paths given by flags (undefined: not given; the environment is looked at then). */
  ca?: string;
  cert?: string;
  key?: string;
  /** "4", "5", "3.1.1", 4 or 5; undefined: 4. */
  mqtt_version?: string | number;
  /** Flag names for the error messages, e.g. { ca: '--broker-ca', … }. */
  flags: { ca: string; cert: string; key: string; mqtt_version: string };
}

export interface ResolvedBrokerAccess {
  /** The URL without user name or password: fit to print and to keep in result.json. */
  url: string;
  access: BrokerAccess;
  /** Every bad value, each naming its flag or variable; empty when usable. */
  problems: string[];
}

/** "4", "3.1.1", "5" (or the numbers) → the protocol level; throws otherwise. */
export function parseMqttVersion(value: string | number): MqttVersion {
  const text = String(value).trim();
  if (text === '4' || text === '3.1.1') return 4;
  if (text === '5' || text === '5.0') return 5;
  throw new Error(`must be 3.1.1 (or 4) or 5, got '${text}'`);
}

/** How the version is written for people: 3.1.1 or 5. */
export function mqttVersionName(version: MqttVersion): string {
  return version === 5 ? '5' : '3.1.1';
}

/**
 * The URL's credentials taken out, the TLS files read and checked, the version parsed: a
 * BrokerAccess ready to connect with, or the problems (nothing started; the caller exits 2).
 */
export function resolveBrokerAccess(input: BrokerAccessInput, env: NodeJS.ProcessEnv = process.env): ResolvedBrokerAccess {
  const problems: string[] = [];
  const access: BrokerAccess = { mqtt_version: 4 };
  let url = input.url;
  let tls = false;
  try {
    const parsed = new URL(input.url);
    tls = parsed.protocol === 'mqtts:';
    if (parsed.password !== '' && input.url_from === 'flag') {
      problems.push(
        `${input.url_field}: the URL ${redactPassword(input.url)} carries a password, which would be readable in the process list (ps); give it in ${BROKER_ENV.password} instead (the user name may stay in the URL)`,
      );
    }
    if (parsed.username !== '') access.username = decodeURIComponent(parsed.username);
    if (parsed.password !== '') access.password = decodeURIComponent(parsed.password);
    parsed.username = '';
    parsed.password = '';
    url = parsed.toString().replace(/\/$/, '');
  } catch {
    // Not a URL: the caller's own parser names that; nothing here may echo it unredacted.
    url = redactPassword(input.url);
  }
  const envUser = env[BROKER_ENV.username];
  if (access.username === undefined && envUser !== undefined && envUser !== '') access.username = envUser;
  const envPassword = env[BROKER_ENV.password];
  if (access.password === undefined && envPassword !== undefined && envPassword !== '') access.password = envPassword;
  if (access.password !== undefined && access.username === undefined) {
    problems.push(`${BROKER_ENV.password}: a password needs a user name (in the URL, mqtt://USER@host:port, or ${BROKER_ENV.username})`);
  }

  if (input.mqtt_version !== undefined) {
    try {
      access.mqtt_version = parseMqttVersion(input.mqtt_version);
    } catch (error) {
      problems.push(`${input.flags.mqtt_version}: ${(error as Error).message}`);
    }
  }

  const file = (which: 'ca' | 'cert' | 'key', check: (pem: string) => void): void => {
    const fromFlag = input[which];
    const path = fromFlag ?? (env[BROKER_ENV[which]] || undefined);
    if (path === undefined) return;
    const field = fromFlag !== undefined ? input.flags[which] : BROKER_ENV[which];
    if (!tls) {
      problems.push(`${field}: TLS files need an mqtts:// broker, got ${url}`);
      return;
    }
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
    } catch (error) {
      problems.push(`${field}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      return;
    }
    try {
      check(pem);
    } catch (error) {
      problems.push(`${field}: ${path} is not a usable ${which === 'key' ? 'PEM private key (an encrypted key is not supported)' : 'PEM certificate'}: ${firstLine((error as Error).message)}`);
      return;
    }
    access[which] = pem;
  };
  file('ca', (pem) => void new X509Certificate(pem));
  file('cert', (pem) => void new X509Certificate(pem));
  file('key', (pem) => void createPrivateKey(pem));
  const certGiven = input.cert !== undefined || Boolean(env[BROKER_ENV.cert]);
  const keyGiven = input.key !== undefined || Boolean(env[BROKER_ENV.key]);
  if (certGiven !== keyGiven) {
    problems.push(certGiven ? `${input.flags.key}: a client certificate needs its private key too` : `${input.flags.cert}: a private key needs its client certificate too`);
  }
  if (access.cert !== undefined && access.key !== undefined) {
    const certificate = new X509Certificate(access.cert);
    if (!certificate.checkPrivateKey(createPrivateKey(access.key))) problems.push(`${input.flags.key}: the key does not belong to the client certificate`);
  }
  return { url, access, problems };
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

/**
 * What a refused CONNECT means, from its CONNACK code: MQTT 3.1.1 return codes (1–5) and MQTT 5
 * reason codes (0x80 and up). "not authorized" and "bad user name or password" are the two an
 * operator meets most; the code is kept in the text so that a rarer one can be looked up.
 */
export function describeConnackRefusal(code: number, version: MqttVersion): string {
  const v4: Record<number, string> = {
    1: 'unacceptable protocol version',
    2: 'client identifier rejected',
    3: 'server unavailable',
    4: 'bad user name or password',
    5: 'not authorized',
  };
  const v5: Record<number, string> = {
    0x80: 'unspecified error',
    0x81: 'malformed packet',
    0x82: 'protocol error',
    0x84: 'unsupported protocol version',
    0x85: 'client identifier not valid',
    0x86: 'bad user name or password',
    0x87: 'not authorized',
    0x88: 'server unavailable',
    0x89: 'server busy',
    0x8a: 'banned',
    0x8c: 'bad authentication method',
    0x95: 'packet too large',
    0x97: 'quota exceeded',
    0x9f: 'connection rate exceeded',
  };
  const name = (version === 5 ? v5 : v4)[code] ?? v4[code] ?? v5[code] ?? 'refused';
  return `${name} (CONNACK ${version === 5 ? `reason code 0x${code.toString(16)}` : `return code ${code}`})`;
}

/** CONNACK codes that say the credentials were refused: retrying with the same ones cannot help. */
export function isAuthRefusal(code: number): boolean {
  return code === 4 || code === 5 || code === 0x86 || code === 0x87 || code === 0x8c;
}
