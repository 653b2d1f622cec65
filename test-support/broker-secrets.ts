// Test material for a secured private Mosquitto (engine/broker/mosquitto.ts, `security`): a CA, a
// server certificate for 127.0.0.1 and a client certificate it signed, a second CA that signed
// nothing the broker holds (for the TLS failure case), a password file and an ACL, all generated
// in a fresh temporary directory. The certificates come from the openssl command line; the password
// file is written here in Mosquitto's own format ($7$: PBKDF2-SHA512), so that the password never
// appears in a command line (`mosquitto_passwd -b` would put it in one).

import { execFileSync } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BrokerSecrets {
  dir: string;
  ca: string;
  /** A CA that signed neither the broker's certificate nor the client's. */
  other_ca: string;
  server_cert: string;
  server_key: string;
  client_cert: string;
  client_key: string;
  password_file: string;
  acl_file: string;
  username: string;
  password: string;
  remove(): void;
}

const OPENSSL = process.env.OPENSSL ?? 'openssl';
/** EC keys: generated in milliseconds, where RSA keys take a noticeable while on a loaded machine. */
const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir: string, args: string[]): void {
  execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=chaosbench test ${name}`]);
}

function makeLeaf(dir: string, name: string, subject: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, ['req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
}

/** One line of a Mosquitto 2 password file: user:$7$ITERATIONS$SALT$HASH (base64), PBKDF2-SHA512. */
export function mosquittoPasswordLine(username: string, password: string): string {
  const iterations = 101;
  const salt = randomBytes(12);
  const hash = pbkdf2Sync(password, salt, iterations, 64, 'sha512');
  return `${username}:$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export function makeBrokerSecrets(username = 'chaosbench-user'): BrokerSecrets {
  const dir = mkdtempSync(join(tmpdir(), 'chaosbench-broker-secrets-'));
  // Mosquitto started as root drops to the user 'mosquitto' before it reads its key, password and ACL
  // files: the directory and those must be readable by others (throwaway test material).
  chmodSync(dir, 0o755);
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  makeLeaf(dir, 'server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  makeLeaf(dir, 'client', '/CN=chaosbench-client', 'extendedKeyUsage=clientAuth\n');
  chmodSync(join(dir, 'server.key'), 0o644);
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  writeFileSync(join(dir, 'passwd'), `${mosquittoPasswordLine(username, password)}\n`, { mode: 0o644 });
  // The run's topics (events/…) and the broker's version ($SYS, which the harness asks for), nothing else.
  writeFileSync(join(dir, 'acl'), `user ${username}\ntopic readwrite events/#\ntopic read $SYS/#\n`);
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    other_ca: join(dir, 'other-ca.crt'),
    server_cert: join(dir, 'server.crt'),
    server_key: join(dir, 'server.key'),
    client_cert: join(dir, 'client.crt'),
    client_key: join(dir, 'client.key'),
    password_file: join(dir, 'passwd'),
    acl_file: join(dir, 'acl'),
    username,
    password,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
