import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';

// Process helpers shared by the tests and the benchmarks that run the app as a real process
// (Linux: they read /proc).

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Direct children of a process. */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return children;
}

/** Children of a process whose command line contains `text`. */
export function childrenRunning(pid: number, text: string): number[] {
  return childrenOf(pid).filter((child) => commandLine(child).includes(text));
}

/** The embedded store an app process started: its child running embedded-store.jar. */
export function embeddedStoreOf(appPid: number): number | undefined {
  return childrenRunning(appPid, 'embedded-store.jar')[0];
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}
