// The TCP ports a running process listens on, read from /proc as `ss -ltnp` finds them: its socket
// inodes (/proc/PID/fd) matched with the listening sockets of its network namespace
// (/proc/PID/net/tcp and tcp6). For tests that reach a child the harness started on a free port it
// does not print (the embedded broker of a bench run).

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** TCP state LISTEN in /proc/net/tcp. */
const LISTEN = '0A';

/** The ports `pid` listens on (IPv4 and IPv6), or [] once it has gone. */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        if (inode !== undefined) inodes.add(inode);
      } catch {
        // Closed between the listing and the read.
      }
    }
  } catch {
    return [];
  }
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === LISTEN && inodes.has(fields[9]!)) ports.add(parseInt(fields[1]!.split(':').pop()!, 16));
    }
  }
  return [...ports];
}
