// A Prometheus server of a test's own (Debian's `prometheus` package; PROMETHEUS names another
// binary), on 127.0.0.1 at a free port, with its storage in a fresh temporary directory. It scrapes
// every second the targets listed in a file_sd file that the test writes once it knows the ports
// (setTargets: Prometheus watches the file). query() asks the HTTP API (/api/v1/query); stop()
// SIGTERMs (SIGKILL after 5 s) and removes the directory. A missing binary fails with a message that
// says what to install: the test never skips (docs/testing.md).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pickFreePort } from '../engine/broker/mosquitto.ts';
import { watchChild } from './watched-child.ts';

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

export interface PrometheusServer {
  readonly url: string;
  /** Replaces the scrape targets (host:port, each with a `role` label); Prometheus reads the file again at once. */
  setTargets(targets: { address: string; role: string }[]): void;
  /** An instant query's vector result: each series' labels and value. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: number }[]>;
  stop(): Promise<void>;
}

export function prometheusBinary(): string {
  const binary = process.env.PROMETHEUS ?? 'prometheus';
  const found = spawnSync('sh', ['-c', `command -v ${JSON.stringify(binary)}`], { encoding: 'utf8' });
  if (found.status !== 0) {
    throw new Error(`the '${binary}' binary is missing: install Debian's prometheus package (apt-get install prometheus; .ci/run does) or set PROMETHEUS`);
  }
  return found.stdout.trim();
}

export async function startPrometheus(): Promise<PrometheusServer> {
  const binary = prometheusBinary();
  const directory = mkdtempSync(join(tmpdir(), 'chaosbench-prometheus-'));
  const targetsPath = join(directory, 'targets.json');
  const setTargets = (targets: { address: string; role: string }[]) => {
    // Written whole, then renamed: Prometheus never reads half a file.
    writeFileSync(`${targetsPath}.tmp`, JSON.stringify(targets.map(({ address, role }) => ({ targets: [address], labels: { role } }))));
    renameSync(`${targetsPath}.tmp`, targetsPath);
  };
  setTargets([]);
  writeFileSync(
    join(directory, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      '  - job_name: chaosbench',
      '    file_sd_configs:',
      `      - files: [${JSON.stringify(targetsPath)}]`,
      '        refresh_interval: 1s',
      '',
    ].join('\n'),
  );
  const port = await pickFreePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    binary,
    [`--config.file=${join(directory, 'prometheus.yml')}`, `--storage.tsdb.path=${join(directory, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (log = (log + chunk).slice(-8_000)));
  const { exitReason, stop } = watchChild(child, { directory, stop_timeout_ms: STOP_TIMEOUT_MS });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then((response) => response.ok, () => false);
    if (ready) break;
    if (exitReason() !== undefined || Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready at ${url} (${exitReason() ?? `within ${READY_TIMEOUT_MS} ms`}): ${log.slice(-2_000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    setTargets,
    async query(promql) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
      const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success' || body.data?.resultType !== 'vector') throw new Error(`query ${promql}: ${body.error ?? JSON.stringify(body)}`);
      return body.data.result.map(({ metric, value }) => ({ metric, value: Number(value[1]) }));
    },
    stop,
  };
}
