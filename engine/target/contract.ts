// The environment a target (your own consumer) is started with: the contract of
// docs/bring-your-own-consumer.md, one table. Values are passed in the environment, never in argv
// (a sink URL may carry a password, and argv is public in /proc/<pid>/cmdline).

/** Variable → what it holds. Every name starts with CHAOSBENCH_ (the scenario's target.env may not set those). */
export const TARGET_ENV = {
  CHAOSBENCH_BROKER_URL: 'the MQTT broker to subscribe at, mqtt://HOST:PORT (the harness\'s network proxy when the scenario has network faults)',
  CHAOSBENCH_TOPIC_FILTER: 'the topic filter to subscribe to with QoS 1, events/<run tag>/#',
  CHAOSBENCH_CLIENT_ID: 'an MQTT client id unique to the run; the same after a restart, so a persistent session (clean: false) finds its queue',
  CHAOSBENCH_SINK_URL: 'where to commit: sqlite:/ABSOLUTE/PATH (a fresh file per run) or postgres://USER@HOST:PORT/DB',
  CHAOSBENCH_SINK_SCHEMA: 'PostgreSQL only: the schema of the run\'s own (created by the harness, dropped after the final read) to create the tables in',
} as const;

export type TargetEnvName = keyof typeof TARGET_ENV;

export interface TargetPlace {
  broker_url: string;
  topic_filter: string;
  client_id: string;
  /** What the RunSink tells a writer: `sqlite:PATH` or a PostgreSQL URL, and the schema for the latter. */
  sink: { sink: string; sink_schema?: string };
}

/** The contract's variables for one run (pure). */
export function targetEnvironment(place: TargetPlace): Partial<Record<TargetEnvName, string>> {
  return {
    CHAOSBENCH_BROKER_URL: place.broker_url,
    CHAOSBENCH_TOPIC_FILTER: place.topic_filter,
    CHAOSBENCH_CLIENT_ID: place.client_id,
    CHAOSBENCH_SINK_URL: place.sink.sink,
    ...(place.sink.sink_schema !== undefined ? { CHAOSBENCH_SINK_SCHEMA: place.sink.sink_schema } : {}),
  };
}
