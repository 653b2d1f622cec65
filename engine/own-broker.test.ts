// Bring your own broker (issue 18), end to end against a private Mosquitto the test starts on a free
// port: a TLS listener with a CA and server certificate generated here, a client certificate
// required, a password file, an ACL. The bench runs as a user runs it (a spawned
// `chaosbench bench`, password in CHAOSBENCH_BROKER_PASSWORD) and must: pass a short duplicate
// storm with nothing lost over mqtts with a client certificate and a password, in MQTT 3.1.1 and
// in MQTT 5 (result.json says which); exit 3 saying "not authorized" for a wrong password and
// "TLS handshake failed" for a CA that did not sign the broker's certificate; and never show the
// password — not in any output file, not on stdout or stderr, not in the command line of any
// process on the machine while the run goes on (read from /proc, as `ps` does).
// Rates are low on purpose: Mosquitto's default limits drop QoS 1 messages for a subscriber that
// lags (engine/broker/, the loss finding), which is not what these tests are about.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, type MosquittoBroker } from './broker/mosquitto.ts';
import { makeBrokerSecrets, type BrokerSecrets } from '../test-support/broker-secrets.ts';
import { filesUnder, KILL_AFTER_MS, watchedBench as bench } from '../test-support/watched-bench.ts';
import { EXIT } from '../cli/exit.ts';
import type { RunResult } from './result.ts';

let secrets: BrokerSecrets;
let broker: MosquittoBroker;
let outRoot: string;

beforeAll(async () => {
  secrets = makeBrokerSecrets();
  const pem = (path: string) => readFileSync(path, 'utf8');
  broker = await startMosquitto({
    security: {
      tls: { cafile: secrets.ca, certfile: secrets.server_cert, keyfile: secrets.server_key, require_certificate: true },
      password_file: secrets.password_file,
      acl_file: secrets.acl_file,
      probe: { mqtt_version: 4, username: secrets.username, password: secrets.password, ca: pem(secrets.ca), cert: pem(secrets.client_cert), key: pem(secrets.client_key) },
    },
  });
  outRoot = mkdtempSync(join(tmpdir(), 'chaosbench-own-broker-'));
}, 60_000);

afterAll(async () => {
  await broker?.stop();
  secrets?.remove();
  if (outRoot) rmSync(outRoot, { recursive: true, force: true });
});

/** A short duplicate storm: 1 s of warm-up at 20 ev/s, 3 s at 60 ev/s with 30% copies. */
const SHORT_STORM = ['--scenario', 'dup-storm', '--rate', '60', '--duration', '3s', '--set', 'phases[0].duration_s=1', '--set', 'phases[0].rate=20', '--set', 'drain_timeout_s=15'];

const tlsFlags = () => ['--broker', broker.url, '--broker-ca', secrets.ca, '--broker-cert', secrets.client_cert, '--broker-key', secrets.client_key];
const credentials = (password = secrets.password) => ({ CHAOSBENCH_BROKER_USERNAME: secrets.username, CHAOSBENCH_BROKER_PASSWORD: password });

describe('bench against a private Mosquitto with TLS, a client certificate, a password file and an ACL', () => {
  it.each([
    ['3.1.1', [] as string[]],
    ['5', ['--mqtt-version', '5']],
  ])('MQTT %s: a short dup-storm passes with 0 lost, and the password shows nowhere', async (version, versionFlags) => {
    const out = join(outRoot, `storm-${version}`);
    const outcome = await bench([...SHORT_STORM, ...tlsFlags(), ...versionFlags, '--out', out], credentials(), secrets.password);
    expect(outcome.code, outcome.stderr).toBe(EXIT.ok);
    expect(outcome.stdout).toMatch(/^PASS/);
    expect(outcome.stdout).toMatch(/ lost 0 /);
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as RunResult;
    expect(result.broker).toMatchObject({ kind: 'external', url: broker.url, mqtt_version: version, client_certificate: true, password: true });
    expect(result.broker.software).toMatch(/^mosquitto version/);
    expect(result.totals.lost).toBe(0);
    expect(result.totals.unique_committed).toBeGreaterThan(100);
    expect(result.totals.copies_absorbed).toBeGreaterThan(0);
    // The progress line says who connects how, without the password.
    expect(outcome.stderr).toContain(`user ${secrets.username}, password ***`);
    for (const [path, text] of filesUnder(out)) expect(text.includes(secrets.password), path).toBe(false);
    expect(outcome.stdout.includes(secrets.password) || outcome.stderr.includes(secrets.password)).toBe(false);
    // Read the process table several times while the run went on (a run of several seconds, read every 250 ms).
    expect(outcome.scans).toBeGreaterThan(8);
    expect(outcome.saw_aggregator).toBe(true);
    expect(outcome.leaks).toEqual([]);
  }, KILL_AFTER_MS);

  it('network faults: the clients reach the mqtts broker through the harness proxy, TLS end to end, and the run passes', async () => {
    const out = join(outRoot, 'jitter');
    const outcome = await bench(
      ['--scenario', 'latency-jitter', '--rate', '60', '--duration', '2s', '--set', 'phases[0].duration_s=1', '--set', 'phases[0].rate=20', '--set', 'drain_timeout_s=15', ...tlsFlags(), '--mqtt-version', '5', '--out', out],
      credentials(),
      secrets.password,
    );
    expect(outcome.code, outcome.stderr).toBe(EXIT.ok);
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as RunResult;
    expect(result.totals.lost).toBe(0);
    const latency = result.faults.find((fault) => fault.kind === 'latency');
    expect(latency?.injected.connections_affected).toBeGreaterThan(0);
  }, KILL_AFTER_MS);

  it('a wrong password exits 3 at once saying "not authorized", not "unreachable", without either password', async () => {
    const wrong = `${secrets.password}-wrong`;
    const outcome = await bench([...SHORT_STORM, ...tlsFlags(), '--out', join(outRoot, 'wrong-password')], credentials(wrong), wrong);
    expect(outcome.code, outcome.stderr).toBe(EXIT.invalid_run);
    expect(outcome.stderr).toMatch(/error: the run could not complete: broker mqtts:\/\/127\.0\.0\.1:\d+ refused the connection: not authorized \(CONNACK return code 5\)/);
    expect(outcome.stderr).not.toMatch(/unreachable|    at /);
    expect(outcome.stderr.includes(wrong) || outcome.stderr.includes(secrets.password)).toBe(false);
  }, KILL_AFTER_MS);

  it('MQTT 5: a wrong password is refused with reason code 0x87, exit 3', async () => {
    const wrong = `${secrets.password}-wrong`;
    const outcome = await bench([...SHORT_STORM, ...tlsFlags(), '--mqtt-version', '5', '--out', join(outRoot, 'wrong-password-5')], credentials(wrong), wrong);
    expect(outcome.code, outcome.stderr).toBe(EXIT.invalid_run);
    expect(outcome.stderr).toMatch(/refused the connection: not authorized \(CONNACK reason code 0x87\)/);
  }, KILL_AFTER_MS);

  it('a CA that did not sign the broker certificate, or no client certificate: exit 3, "TLS handshake failed"', async () => {
    const [otherCa, noCert] = [
      await bench([...SHORT_STORM, '--broker', broker.url, '--broker-ca', secrets.other_ca, '--broker-cert', secrets.client_cert, '--broker-key', secrets.client_key, '--out', join(outRoot, 'other-ca')], credentials(), secrets.password),
      await bench([...SHORT_STORM, '--broker', broker.url, '--broker-ca', secrets.ca, '--out', join(outRoot, 'no-cert')], credentials(), secrets.password),
    ];
    expect(otherCa.code, otherCa.stderr).toBe(EXIT.invalid_run);
    expect(otherCa.stderr).toMatch(/TLS handshake failed: self-signed certificate in certificate chain/);
    expect(noCert.code, noCert.stderr).toBe(EXIT.invalid_run);
    expect(noCert.stderr).toMatch(/TLS handshake failed: .*certificate required/);
    for (const outcome of [otherCa, noCert]) expect(outcome.stderr).not.toMatch(/    at /);
  }, KILL_AFTER_MS);
});
