// The bench's broker flags as it parses them (in process; nothing starts): --broker mqtts://…,
// --broker-ca/--broker-cert/--broker-key, --mqtt-version and the CHAOSBENCH_BROKER_* variables.
// Each bad value is bad input (exit 2) naming its flag or variable, and no message shows a
// password. compare and gate pass the flags through to every run. The runs themselves, over TLS against a real Mosquitto: engine/own-broker.test.ts.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { parseBenchArgs, type BenchArgs } from './bench.ts';
import { parseCompareArgs } from '../compare/compare.ts';
import { parseGateArgs } from '../gate/gate.ts';
import { UsageError } from '../../cli/exit.ts';
import { makeBrokerSecrets } from '../../test-support/broker-secrets.ts';

const secrets = makeBrokerSecrets();
afterAll(() => secrets.remove());
afterEach(() => vi.unstubAllEnvs());

const BROKER = 'mqtts://broker.example:8883';
const tls = ['--broker-ca', secrets.ca, '--broker-cert', secrets.client_cert, '--broker-key', secrets.client_key];

async function parsed(...argv: string[]): Promise<BenchArgs> {
  const args = await parseBenchArgs(['--scenario', 'smoke', ...argv]);
  if (args === 'listed') throw new Error('listed');
  return args;
}

/** The UsageError's message (exit 2), or 'accepted'. */
async function refusal(...argv: string[]): Promise<string> {
  try {
    await parsed(...argv);
    return 'accepted';
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return error.message;
  }
}

describe('bench broker flags', () => {
  it('mqtts with CA, client certificate and key, user from the URL, password from the environment, MQTT 5', async () => {
    vi.stubEnv('CHAOSBENCH_BROKER_PASSWORD', 'hunter2-env');
    const args = await parsed('--broker', 'mqtts://alice@broker.example:8883', ...tls, '--mqtt-version', '5');
    expect(args.broker).toBe(BROKER);
    expect(args.broker_access).toMatchObject({ mqtt_version: 5, username: 'alice', password: 'hunter2-env' });
    expect(args.broker_access?.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(args.broker_access?.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    // What result.json keeps and the replay line repeats: paths and the version, no credentials.
    expect(args.overrides).toEqual({ broker: BROKER, 'broker-ca': secrets.ca, 'broker-cert': secrets.client_cert, 'broker-key': secrets.client_key, 'mqtt-version': '5' });
    expect(JSON.stringify(args.overrides)).not.toContain('hunter2');
  });

  it('TLS files and user name from the environment; the flags win over it', async () => {
    vi.stubEnv('CHAOSBENCH_BROKER_CA', secrets.other_ca);
    vi.stubEnv('CHAOSBENCH_BROKER_CERT', secrets.client_cert);
    vi.stubEnv('CHAOSBENCH_BROKER_KEY', secrets.client_key);
    vi.stubEnv('CHAOSBENCH_BROKER_USERNAME', 'bob');
    vi.stubEnv('CHAOSBENCH_BROKER_PASSWORD', 'pw');
    const fromEnv = await parsed('--broker', BROKER);
    expect(fromEnv.broker_access).toMatchObject({ mqtt_version: 4, username: 'bob', password: 'pw' });
    const flagCa = await parsed('--broker', BROKER, '--broker-ca', secrets.ca);
    expect(flagCa.broker_access?.ca).not.toBe(fromEnv.broker_access?.ca);
  });

  it('--broker env takes the URL, password included, from CHAOSBENCH_BROKER_URL, and records it without credentials', async () => {
    vi.stubEnv('CHAOSBENCH_BROKER_URL', 'mqtt://carol:s3cret@broker.example:1883');
    const args = await parsed('--broker', 'env', '--mqtt-version', '3.1.1');
    expect(args.broker).toBe('mqtt://broker.example:1883');
    expect(args.broker_access).toMatchObject({ mqtt_version: 4, username: 'carol', password: 's3cret' });
    expect(args.overrides.broker).toBe('env');
  });

  it.each([
    ['a password in --broker', ['--broker', 'mqtts://alice:hunter2@broker.example:8883'], /--broker: the URL mqtts:\/\/alice:\*\*\*@broker.example:8883 carries a password.*CHAOSBENCH_BROKER_PASSWORD/],
    ['an unknown version', ['--broker', BROKER, '--mqtt-version', '6'], /--mqtt-version: must be 3.1.1 \(or 4\) or 5, got '6'/],
    ['a missing CA file', ['--broker', BROKER, '--broker-ca', '/nonexistent/ca.pem'], /--broker-ca: cannot read \/nonexistent\/ca.pem: ENOENT/],
    ['a certificate without its key', ['--broker', BROKER, '--broker-cert', secrets.client_cert], /--broker-key: a client certificate needs its private key too/],
    ['TLS files with a plain mqtt:// broker', ['--broker', 'mqtt://broker.example:1883', '--broker-ca', secrets.ca], /--broker-ca: TLS files need an mqtts:\/\/ broker/],
    ['TLS files with the embedded broker', ['--broker-ca', secrets.ca], /--broker-ca: TLS files need an external mqtts:\/\/ --broker/],
    ['MQTT 5 with the embedded broker', ['--mqtt-version', '5'], /--mqtt-version: 5 needs an external --broker \(the embedded Aedes speaks MQTT 3.1.1\)/],
    ['--broker env with CHAOSBENCH_BROKER_URL unset', ['--broker', 'env'], /--broker env: CHAOSBENCH_BROKER_URL is not set/],
  ])('%s is bad input naming the flag', async (_what, argv, message) => {
    const text = await refusal(...argv);
    expect(text).toMatch(message);
    expect(text).not.toContain('hunter2');
  });

  it('a key file that is not a key, and a key of another certificate, are bad input naming --broker-key', async () => {
    const garbage = join(secrets.dir, 'garbage.key');
    writeFileSync(garbage, 'not a key\n');
    expect(await refusal('--broker', BROKER, '--broker-cert', secrets.client_cert, '--broker-key', garbage)).toMatch(
      /--broker-key: .*garbage.key is not a usable PEM private key/,
    );
    expect(await refusal('--broker', BROKER, '--broker-cert', secrets.client_cert, '--broker-key', secrets.server_key)).toMatch(
      /--broker-key: the key does not belong to the client certificate/,
    );
  });

  it('a password without a user name is bad input naming the variables', async () => {
    vi.stubEnv('CHAOSBENCH_BROKER_PASSWORD', 'hunter2');
    const text = await refusal('--broker', BROKER);
    expect(text).toMatch(/CHAOSBENCH_BROKER_PASSWORD: a password needs a user name .*CHAOSBENCH_BROKER_USERNAME/);
    expect(text).not.toContain('hunter2');
  });
});

describe('compare and gate pass the broker flags through to every run', () => {
  it('each compare variant and both gate sides connect as the bench would', async () => {
    vi.stubEnv('CHAOSBENCH_BROKER_USERNAME', 'dave');
    vi.stubEnv('CHAOSBENCH_BROKER_PASSWORD', 'pw');
    const flags = ['--broker', BROKER, ...tls, '--mqtt-version', '5'];
    const compare = await parseCompareArgs(['--scenario', 'smoke', '--dedup', 'memory,none', '--out', join(secrets.dir, 'compare'), ...flags]);
    if (compare === 'listed') throw new Error('listed');
    const gate = await parseGateArgs(['--scenario', 'smoke', '--quiet', '--baseline-set', 'aggregator.batch_size=1', '--out', join(secrets.dir, 'gate'), ...flags]);
    const sides = [...compare.variants.map((variant) => variant.run), gate.candidate.run, gate.baseline!.run];
    expect(sides).toHaveLength(4);
    for (const bench of sides) {
      expect(bench.broker).toBe(BROKER);
      expect(bench.broker_access).toMatchObject({ mqtt_version: 5, username: 'dave', password: 'pw' });
      expect(bench.broker_access?.cert).toMatch(/^-----BEGIN CERTIFICATE-----/);
    }
  });
});
