// Liveness for all sockets of an endpoint with one timer, not one per socket: each tick
// sweeps the set, pings the quiet ones and terminates those that left a ping unanswered.

export interface HeartbeatOptions {
  /** Ping a socket that has been silent this long (ms). Default 30000. */
  interval?: number;
  /** Terminate a socket that sent nothing for this long after a ping (ms). Default 10000. */
  timeout?: number;
}

export interface Sweepable {
  lastSeen: number;
  lastMessage: number;
  pingSentAt: number;
  readonly readyState: number;
  ping(): boolean;
  close(code?: number, reason?: string): void;
  terminate(): void;
  /**
   * True when the peer took some of our queued bytes since the ping (or the last call): it
   * is alive, just reading a backlog that the ping waits behind. Starts a new measurement.
   */
  drainedSincePing?(): boolean;
}

export interface LivenessSettings {
  interval: number; // 0: no heartbeat
  timeout: number;
  idleTimeout: number; // 0: none
}

/** One sweep at time `now`: what the timer does on every tick. */
export function sweep(sockets: Iterable<Sweepable>, now: number, settings: LivenessSettings): void {
  for (const socket of sockets) {
    if (socket.readyState !== 1) continue;
    if (settings.interval > 0) {
      if (socket.pingSentAt !== 0) {
        if (now - socket.pingSentAt >= settings.timeout) {
          if (socket.drainedSincePing?.()) {
            socket.pingSentAt = now; // alive and reading: give the ping another timeout
          } else {
            socket.terminate();
            continue;
          }
        }
      } else if (now - socket.lastSeen >= settings.interval) {
        socket.pingSentAt = now;
        socket.ping();
      }
    }
    if (settings.idleTimeout > 0 && now - socket.lastMessage >= settings.idleTimeout) {
      socket.close(1000, 'idle timeout');
    }
  }
}

/** How often to sweep: a quarter of the shortest period, between 10 ms and 1 s; 0: no timer. */
export function tickPeriod(settings: LivenessSettings): number {
  // Without pings (interval 0) the ping timeout never applies.
  const heartbeat = settings.interval > 0 ? [settings.interval, settings.timeout] : [];
  const periods = [...heartbeat, settings.idleTimeout].filter((p) => p > 0);
  if (periods.length === 0) return 0;
  return Math.min(1000, Math.max(10, Math.floor(Math.min(...periods) / 4)));
}
