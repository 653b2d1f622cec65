// A consumer written the way most MQTT tutorials write one, on purpose: mqtt.js with its defaults
// (a QoS 1 message is acknowledged as soon as the 'message' handler has been called, before anything
// is stored), an INSERT into an append-only table from the message handler, no deduplication, no
// graceful shutdown. The harness's ledger shows what that costs: a duplicate on the wire becomes a
// duplicate row (dup-storm), and whatever was received but not yet written when the process dies is
// lost, because the broker already has its PUBACK (consumer-crash). docs/bring-your-own-consumer.md.
//
// Contract (set by the harness): CHAOSBENCH_BROKER_URL, CHAOSBENCH_TOPIC_FILTER, CHAOSBENCH_CLIENT_ID,
// CHAOSBENCH_SINK_URL (sqlite:PATH). NAIVE_WRITE_DELAY_MS (default 0) stands for the round trip to a
// database server (the write happens that long after the message arrived), as in a tutorial that
// awaits a remote INSERT.

import Database from 'better-sqlite3';
import mqtt from 'mqtt';

const sinkUrl = process.env.CHAOSBENCH_SINK_URL ?? 'sqlite:./naive-events.db';
if (!sinkUrl.startsWith('sqlite:')) {
  console.error(`naive consumer: only a sqlite: sink is supported, got ${sinkUrl.replace(/:[^:@/]*@/, ':***@')}`);
  process.exit(2);
}
const writeDelayMs = Number(process.env.NAIVE_WRITE_DELAY_MS ?? 0);

const db = new Database(sinkUrl.slice('sqlite:'.length));
// As better-sqlite3's README advises: without WAL every INSERT waits for an fsync (17 ms each on the
// machine of docs/bring-your-own-consumer.md), and the consumer falls behind at ~60 ev/s.
db.pragma('journal_mode = WAL');
db.exec(`CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT,
  topic TEXT,
  body TEXT,
  inserted_at_ms INTEGER
)`);
const insert = db.prepare('INSERT INTO messages (event_id, topic, body, inserted_at_ms) VALUES (?, ?, ?, ?)');

// clean: false so that the broker keeps the queue while the process is away (what the tutorials on
// QoS 1 recommend): the loss the harness shows is the ack before the write, not a dropped session.
const client = mqtt.connect(process.env.CHAOSBENCH_BROKER_URL ?? 'mqtt://127.0.0.1:1883', {
  clientId: process.env.CHAOSBENCH_CLIENT_ID ?? 'naive-consumer',
  clean: false,
});

client.on('connect', () => {
  client.subscribe(process.env.CHAOSBENCH_TOPIC_FILTER ?? 'events/#', { qos: 1 }, (error) => {
    if (error) console.error(`naive consumer: subscribe failed: ${error.message}`);
    else console.error('naive consumer: subscribed');
  });
});
client.on('error', (error) => console.error(`naive consumer: ${error.message}`));

client.on('message', (topic, payload) => {
  const body = payload.toString();
  const event = JSON.parse(body);
  const write = () => insert.run(event.event_id, topic, body, Date.now());
  if (writeDelayMs > 0) setTimeout(write, writeDelayMs);
  else write();
});
