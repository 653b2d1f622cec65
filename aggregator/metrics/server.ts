// A Prometheus endpoint: GET /metrics of one prom-client Registry, on 127.0.0.1 only. Shared by the
// reference aggregator (--metrics-port) and the harness (bench --metrics-port). After the last
// values are set, finalScrape() waits for two more scrapes (or a time limit), so that a scraper sees
// the final figures before the endpoint goes away: two, since a scrape the scraper gave up on (its
// scrape_timeout passed on a busy machine) is complete here but never stored there.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Scrapes of the final values an endpoint waits for before it closes (see above). */
export const FINAL_SCRAPES = 2;

export class MetricsServer {
  /** Told when a scrape that arrived after they were added has been answered. */
  private readonly scraped = new Set<() => void>();

  private constructor(
    private readonly server: Server,
    /** The bound port (an ephemeral one when 0 was asked for). */
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/metrics`;
  }

  /** Serves registry on 127.0.0.1:port (0: a free port); rejects when the port cannot be bound. */
  static async start(registry: Registry, port: number): Promise<MetricsServer> {
    let self: MetricsServer | undefined;
    const server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
        return;
      }
      // Only those waiting when the scrape arrived: an earlier one may hold values from before the last were set.
      const waiting = [...(self?.scraped ?? [])];
      registry.metrics().then(
        (text) => {
          response.writeHead(200, { 'content-type': registry.contentType }).end(text, () => {
            for (const told of waiting) told();
          });
        },
        (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    self = new MetricsServer(server, (server.address() as AddressInfo).port);
    return self;
  }

  /**
   * Resolves once `scrapes` scrapes that arrived after this call have been answered, or after
   * timeoutMs (0: at once): true when scraped.
   */
  finalScrape(timeoutMs: number, scrapes = FINAL_SCRAPES): Promise<boolean> {
    if (timeoutMs <= 0) return Promise.resolve(false);
    let left = scrapes;
    return new Promise((resolve) => {
      const done = (scraped: boolean) => {
        clearTimeout(timer);
        this.scraped.delete(onScrape);
        resolve(scraped);
      };
      const onScrape = () => {
        if (--left <= 0) done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.scraped.add(onScrape);
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
