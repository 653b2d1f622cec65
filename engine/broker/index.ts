// Broker control for the harness: one handle over the embedded Aedes child process (which the
// chaos faults may SIGKILL and restart) and an external broker reached by URL (which we only
// probe and never own). This module must never start anything before the spec is validated.
import { EmbeddedBroker } from './embedded.ts';
import { ExternalBroker } from './external.ts';
import type { BrokerHandle, BrokerOptions } from './handle.ts';
import { redactPassword } from '../../aggregator/redact.ts';

export type { BrokerHandle, BrokerOptions, BrokerPersistence } from './handle.ts';

export type BrokerSpec = { kind: 'embedded' } | { kind: 'external'; url: string };

const SPEC_HELP = "expected 'embedded', mqtt://host:port or mqtts://host:port";

/**
 * Parses a `--broker` value. Returns the external URL normalised to `mqtt://host:port` or
 * `mqtts://host:port`, without user name or password: those are resolveBrokerAccess's
 * (aggregator/consumer/access.ts), which also refuses a password given in a flag. Anything else in
 * the URL (path, query) is rejected rather than silently dropped. Messages never show a password.
 */
export function parseBrokerSpec(text: string): BrokerSpec {
  if (text === 'embedded') return { kind: 'embedded' };
  const spec = redactPassword(text);
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new Error(`invalid broker spec "${spec}": ${SPEC_HELP}`);
  }
  if (parsed.protocol !== 'mqtt:' && parsed.protocol !== 'mqtts:') {
    throw new Error(`invalid broker spec "${spec}": protocol must be mqtt: or mqtts: (got ${parsed.protocol}); ${SPEC_HELP}`);
  }
  if (parsed.hostname === '') {
    throw new Error(`invalid broker spec "${spec}": missing host; ${SPEC_HELP}`);
  }
  // The WHATWG parser already rejects non-numeric and > 65535 ports; an absent port is ''.
  const port = Number(parsed.port);
  if (parsed.port === '' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`invalid broker spec "${spec}": missing or invalid port (1-65535); ${SPEC_HELP}`);
  }
  if ((parsed.pathname !== '' && parsed.pathname !== '/') || parsed.search !== '' || parsed.hash !== '') {
    throw new Error(`invalid broker spec "${spec}": unexpected path, query or fragment; ${SPEC_HELP}`);
  }
  return { kind: 'external', url: `${parsed.protocol}//${parsed.hostname}:${port}` };
}

/**
 * Starts (embedded) or probes (external) a broker. `options` only shapes the embedded broker:
 * an external broker's persistence is whatever it was configured with.
 */
export async function startBroker(
  spec: string | BrokerSpec,
  options: BrokerOptions = { persistence: 'memory' },
): Promise<BrokerHandle> {
  const parsed = typeof spec === 'string' ? parseBrokerSpec(spec) : spec;
  switch (parsed.kind) {
    case 'embedded':
      return EmbeddedBroker.start(options);
    case 'external':
      return ExternalBroker.start(parsed.url, options.access);
    default: {
      const unreachable: never = parsed;
      throw new Error(`unknown broker kind in ${JSON.stringify(unreachable)}`);
    }
  }
}

export { EmbeddedBroker } from './embedded.ts';
export { ExternalBroker } from './external.ts';
