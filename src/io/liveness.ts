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

/**
 * One sweep at time `now`: what the timer does on every tick. With `judge` false it only
 * pings: no socket is terminated or closed for idleness on this tick (see mayJudge).
 */
export function sweep(sockets: Iterable<Sweepable>, now: number, settings: LivenessSettings, judge = true): void {
  for (const socket of sockets) {
    if (socket.readyState !== 1) continue;
    if (settings.interval > 0) {
      if (socket.pingSentAt !== 0) {
        if (judge && now - socket.pingSentAt >= settings.timeout) {
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
    if (judge && settings.idleTimeout > 0 && now - socket.lastMessage >= settings.idleTimeout) {
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

/**
 * Whether a tick may terminate or close sockets. A tick that fires more than two periods after
 * the previous one means the event loop stalled: pongs and drained bytes that arrived meanwhile
 * are not read yet (timers run before I/O), so judging now would blame peers for our delay.
 * Such a tick leaves the verdicts to the next one; never two in a row, so a loop that is
 * always late still drops dead peers.
 */
export function mayJudge(previousTick: number, now: number, period: number, deferredLast: boolean): boolean {
  return deferredLast || now - previousTick <= 2 * period;
}
