// npm run k6:export: the script of every shipped scenario type-checks against @types/k6 and our
// xk6-mqtt declarations (and a planted wrong call does not, so the check can fail); a ramped
// scenario's executors and thresholds; and the script run for real in Node against stand-ins of the
// k6 modules: each event it publishes is, byte for byte, the event the harness publishes for the
// same (source, seq) and intended time, and its copies follow the scenario's duplicate fault.
// No k6 binary runs here (docs/k6.md).

import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SCENARIOS } from '../../scenarios/index.ts';
import type { Scenario } from '../../scenarios/schema.ts';
import { validateScenario } from '../../scenarios/validate.ts';
import { renderK6Script } from './script.ts';
import { Schedule } from '../../engine/load/schedule.ts';
import { eventIdFor } from '../../engine/load/identity.ts';
import { isoMicros } from '../../aggregator/clock.ts';
import { parseEvent, serializeEvent } from '../../aggregator/event/parse.ts';
import { runChaosbench } from '../../test-support/run-command.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';
import { loadK6Script } from '../../test-support/k6-script.ts';
import { EXIT } from '../../cli/exit.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const DECLARATIONS = join(ROOT, 'k6/types/xk6-mqtt.d.ts');
const dirs = tempDirs('k6-export');

/** tsc over the given scripts with k6/tsconfig.json's settings: its exit code and output. */
async function typeCheck(scripts: string[]): Promise<{ code: number; output: string }> {
  const dir = dirs();
  const config = join(dir, 'tsconfig.json');
  writeFileSync(config, JSON.stringify({ extends: join(ROOT, 'k6/tsconfig.json'), files: [...scripts, DECLARATIONS], include: [] }));
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', config], { timeout: 120_000 });
    return { code: 0, output: stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, output: failed.stdout };
  }
}

function exported(scenario: Scenario): string {
  return renderK6Script(scenario, 'test').text;
}

describe('k6 scripts type-check against @types/k6 and k6/types/xk6-mqtt.d.ts', () => {
  it('the script of every shipped scenario does', async () => {
    const dir = dirs();
    const scripts = Object.values(SCENARIOS).map((scenario) => {
      const file = join(dir, `${scenario.name}.ts`);
      writeFileSync(file, exported(scenario));
      return file;
    });
    expect(scripts.length).toBeGreaterThanOrEqual(14);
    const checked = await typeCheck(scripts);
    expect(checked.output).toBe('');
    expect(checked.code).toBe(0);
  }, 180_000);

  it('a script calling the extension wrongly does not (the check can fail)', async () => {
    const file = join(dirs(), 'planted.ts');
    const text = exported(SCENARIOS['dup-storm']!);
    const planted = text.replace('client.publishAsync(topic, body, { qos: LOAD.qos })', "client.publishAsync(topic, body, { qos: LOAD.qos, retained: true })");
    expect(planted).not.toBe(text);
    writeFileSync(file, `${planted}\nexport function misuse(client: Client): void {\n  client.on('disconnect', () => {});\n}\n`);
    const checked = await typeCheck([file]);
    expect(checked.code).not.toBe(0);
    expect(checked.output).toMatch(/planted\.ts\(\d+,\d+\): error TS\d+: .*'retained' does not exist/);
    expect(checked.output).toMatch(/planted\.ts\(\d+,\d+\): error TS\d+: No overload matches this call/);
    expect(checked.output).toContain(`Argument of type '"disconnect"' is not assignable`);
  }, 180_000);
});

/** What the script does when k6 runs it: its exports, with the k6 modules replaced by recorders. */
function load(text: string, broker: { refuse?: 'publish' | 'connect' } = {}) {
  const published: { client: number; topic: string; body: string; qos: number | undefined }[] = [];
  let clients = 0;
  const script = loadK6Script(
    text,
    (track) =>
      class Client {
        readonly id = clients++;
        private readonly handlers: Record<string, (...args: unknown[]) => unknown> = {};
        on(event: string, listener: (...args: unknown[]) => unknown) {
          this.handlers[event] = listener;
        }
        connect() {
          const event = broker.refuse === 'connect' ? () => this.handlers.error?.({ name: 'MQTTError', message: 'connection refused', method: 'connect' }) : () => this.handlers.connect?.();
          track(Promise.resolve().then(event));
        }
        async publishAsync(topic: string, body: string, options?: { qos?: number }) {
          if (broker.refuse === 'publish') throw new Error('not authorized');
          published.push({ client: this.id, topic, body, qos: options?.qos });
        }
        end() {}
      },
  );
  return { ...script, published };
}

describe('the exported script', () => {
  it('a ramped phase is a ramping-arrival-rate scenario, constant phases constant-arrival-rate; thresholds from the checks', () => {
    const base = structuredClone(SCENARIOS['dup-storm']!);
    base.phases[1]!.rate = { from: 500, to: 4000 };
    base.checks.push({ metric: 'p99_ms', op: '<', value: 50 });
    const validated = validateScenario({ ...base, checks: [...base.checks, { metric: 'latency_ms', threshold: 'p(95)<=20' }] });
    if (!validated.ok) throw new Error(validated.errors.join('\n'));
    const script = renderK6Script(validated.scenario, 'test');
    const { exports } = load(script.text);
    const scenarios = exports.options.scenarios;
    expect(Object.keys(scenarios)).toEqual(['p0-warmup', 'p1-storm']);
    expect(scenarios['p0-warmup']).toMatchObject({ executor: 'constant-arrival-rate', rate: 500, timeUnit: '1s', duration: '2000ms', startTime: '0ms', exec: 'publishEvent', tags: { phase: 'warmup', measured: 'no' } });
    expect(scenarios['p1-storm']).toMatchObject({ executor: 'ramping-arrival-rate', startRate: 500, timeUnit: '1s', stages: [{ target: 4000, duration: '15000ms' }], startTime: '2000ms', tags: { phase: 'storm', measured: 'yes' } });
    expect(scenarios['p1-storm'].maxVUs).toBeGreaterThanOrEqual(scenarios['p1-storm'].preAllocatedVUs);
    expect(exports.options.thresholds).toEqual({
      publishes_unacked: ['count==0'],
      dropped_iterations: ['count==0'],
      'publish_latency_ms{measured:yes}': ['p(99)<50', 'p(95)<=20'],
    });
    // lost, sink_duplicates and unexpected are the sink's: named in the notes, not thresholds.
    expect(script.notes.filter((note) => note.includes('not measurable inside k6')).map((note) => note.split(':')[0])).toEqual([
      'checks[0] lost == 0',
      'checks[3] sink_duplicates == 0',
      'checks[4] unexpected == 0',
    ]);
  });

  it("publishes, for each iteration, the harness's event for that (source, seq) and intended time; copies as the duplicate fault says", async () => {
    const scenario = SCENARIOS['dup-storm']!;
    const { published, metrics, iterate } = load(exported(scenario));
    const P = scenario.load.publishers;
    const schedule = new Schedule(scenario.phases, 1_780_000_000_000_000, P);
    const storm = schedule.phases[1]!;
    const N = 2_000;
    for (let k = 0; k < N; k++) await iterate('p1-storm', k, storm.start_us / 1000);

    const originals = new Map<string, (typeof published)[number]>();
    let copies = 0;
    let otherConnection = 0;
    for (const message of published) {
      const parsed = parseEvent(message.body);
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
      expect(message.qos).toBe(1);
      const first = originals.get(parsed.event.event_id);
      if (first === undefined) originals.set(parsed.event.event_id, message);
      else {
        copies++;
        expect(message.body).toBe(first.body);
        if (message.client !== first.client) otherConnection++;
      }
    }
    expect(originals.size).toBe(N);
    for (let k = 0; k < N; k++) {
      const g = storm.first + k;
      const source = `pub-${g % P}`;
      const seq = Math.floor(g / P);
      const intended_us = schedule.intendedAt(g);
      const topic = `events/k6-test/${source}`;
      const harness = serializeEvent({ v: 1, event_id: eventIdFor(scenario.seed, source, seq, intended_us), source, seq, topic, ts: isoMicros(intended_us), payload: { data: 'x'.repeat(scenario.load.payload_bytes) }, bench: { intended_us } });
      expect(originals.get(JSON.parse(harness).event_id)?.body).toBe(harness);
    }
    // 30% copied, half of them from another connection (seeded: the same events every run).
    expect(copies / N).toBeGreaterThan(0.26);
    expect(copies / N).toBeLessThan(0.34);
    expect(otherConnection / copies).toBeGreaterThan(0.4);
    expect(otherConnection / copies).toBeLessThan(0.6);
    expect(metrics.duplicate_copies!.length).toBe(copies);
    expect(metrics.publish_latency_ms!.length).toBe(N);
    expect(metrics.publishes_unacked).toEqual([]);
    // An iteration past the phase's count publishes nothing and is counted.
    const before = published.length;
    await iterate('p1-storm', storm.count, storm.start_us / 1000);
    expect(published.length).toBe(before);
    expect(metrics.surplus_iterations).toEqual([1]);
  });

  it('counts an event whose publish fails, or whose connection does, as unacknowledged, with no latency', async () => {
    const scenario = SCENARIOS['dup-storm']!;
    for (const refuse of ['publish', 'connect'] as const) {
      const { published, metrics, iterate } = load(exported(scenario), { refuse });
      for (let k = 0; k < 20; k++) await iterate('p0-warmup', k, 1_780_000_000_000);
      expect(published).toEqual([]);
      expect(metrics.publishes_unacked!.length).toBe(20);
      expect(metrics.publish_latency_ms).toEqual([]);
    }
  });

  it("a clock-skew fault shifts the skewed publisher's ts only", async () => {
    const scenario = SCENARIOS['clock-skew']!;
    const { published, iterate } = load(exported(scenario));
    const schedule = new Schedule(scenario.phases, 1_780_000_000_000_000, scenario.load.publishers);
    const phase = schedule.phases[1]!;
    for (let k = 0; k < scenario.load.publishers; k++) await iterate(`p1-${phase.name}`, k, phase.start_us / 1000);
    const skew = scenario.phases[1]!.faults[0]!;
    if (skew.kind !== 'clock-skew') throw new Error('expected a clock-skew fault');
    for (const message of published) {
      const event = JSON.parse(message.body);
      const expected = event.source === `pub-${skew.publisher}` ? event.bench.intended_us + skew.skew_ms * 1000 : event.bench.intended_us;
      expect(event.ts).toBe(isoMicros(expected));
    }
  });
});

describe('npm run k6:export', () => {
  it('writes the script with the load flags applied, and prints what it leaves to the harness', async () => {
    const out = join(dirs(), 'storm.ts');
    const outcome = await runChaosbench('k6:export', ['--scenario', 'dup-storm', '--rate', '500:4000', '--duration', '20s', '--set', 'seed=7', '--out', out], { timeout_ms: 60_000 });
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(EXIT.ok);
    expect(outcome.stdout).toContain(`wrote ${out}`);
    expect(outcome.stdout).toMatch(/checks\[0\] lost == 0: not measurable inside k6/);
    const text = readFileSync(out, 'utf8');
    expect(text).toContain('const SEED = 7;');
    expect(text).toMatch(/"executor": "ramping-arrival-rate",\s+"startRate": 500,\s+"timeUnit": "1s",\s+"stages": \[\s+\{\s+"target": 4000,\s+"duration": "20000ms"/);
  });

  it('exits 2 naming the flag or field: a bad --rate, an unknown scenario, the closed model', async () => {
    const bad = await runChaosbench('k6:export', ['--scenario', 'dup-storm', '--rate', 'fast'], { timeout_ms: 60_000 });
    expect(bad.code).toBe(EXIT.bad_input);
    expect(bad.stderr).toContain('--rate must be events/s');
    const unknown = await runChaosbench('k6:export', ['--scenario', 'nope'], { timeout_ms: 60_000 });
    expect(unknown.code).toBe(EXIT.bad_input);
    expect(unknown.stderr).toContain("--scenario: unknown scenario 'nope'");
    const closed = await runChaosbench('k6:export', ['--scenario', 'dup-storm', '--model', 'closed'], { timeout_ms: 60_000 });
    expect(closed.code).toBe(EXIT.bad_input);
    expect(closed.stderr).toContain('load.model: the closed model cannot be exported');
    for (const outcome of [bad, unknown, closed]) expect(outcome.stderr).not.toMatch(/\n\s+at /);
  });
});
