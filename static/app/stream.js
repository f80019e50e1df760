// A run's event stream (runs/CONTRACT.md). The first connection asks for the history from event 0,
// so opening a run late, or reloading the page, replays what was missed; when the connection drops
// the browser reconnects by itself and sends Last-Event-ID, and the stream resumes after it.
import { withQuery } from "./api.js";

const TYPES = ["start", "result", "progress", "portfolio", "complete"];
// A replay can bring hundreds of events in one network chunk, which the browser dispatches in one
// task: the events are only queued there, and handled in slices of at most this many milliseconds.
const SLICE_MS = 8;

export class RunStream {
  // handlers: start, result, error (a coin failed), progress, portfolio (the run's account), complete, status(text),
  //           reconnected() after a drop, lost(reason) when the stream cannot be held
  constructor({ eventsUrl, runId, handlers }) {
    this.eventsUrl = eventsUrl;
    this.runId = runId;
    this.handlers = handlers;
    this.source = null;
    this.lastId = null;
    this.closed = false;
    this.down = false;
    this.queue = [];
    this.draining = false;
  }

  enqueue(type, data) {
    this.queue.push([type, data]);
    if (!this.draining) {
      this.draining = true;
      setTimeout(() => this.drain(), 0);
    }
  }

  drain() {
    const until = performance.now() + SLICE_MS;
    while (this.queue.length && !this.closed && performance.now() < until) {
      const [type, data] = this.queue.shift();
      let payload;
      try {
        payload = JSON.parse(data);
      } catch {
        continue; // not JSON: ignore
      }
      this.handlers[type]?.(payload);
    }
    if (this.queue.length && !this.closed) setTimeout(() => this.drain(), 0);
    else this.draining = false;
  }

  open() {
    const url = withQuery(this.eventsUrl, { lastEventId: `run-${this.runId}:0` });
    const source = new EventSource(url);
    this.source = source;
    for (const type of TYPES) {
      source.addEventListener(type, (event) => {
        if (this.closed) return;
        if (event.lastEventId) this.lastId = event.lastEventId;
        // User Timing marks: the end of a run as the page received it (tests measure from there).
        if (type === "complete") performance.mark("bt:complete-received");
        this.enqueue(type, event.data);
      });
    }
    // "error" is both a run event (a coin failed, with data) and the EventSource's own connection error.
    source.addEventListener("error", (event) => {
      if (this.closed) return;
      if (typeof event.data === "string" && event.data) {
        if (event.lastEventId) this.lastId = event.lastEventId;
        this.enqueue("error", event.data);
        return;
      }
      if (source.readyState === EventSource.CONNECTING) {
        this.down = true;
        this.handlers.status?.("reconnecting");
      } else if (source.readyState === EventSource.CLOSED) this.fail("closed");
    });
    source.addEventListener("open", () => {
      if (this.closed) return;
      this.handlers.status?.("live");
      if (this.down) {
        this.down = false;
        this.handlers.reconnected?.();
      }
    });
    source.addEventListener("stream-open", () => !this.closed && this.handlers.status?.("live"));
    // The server lost our place (events expired) or refused the channel: the stored run is the truth.
    source.addEventListener("stream-reset", () => this.fail("reset"));
    source.addEventListener("stream-error", (event) => this.fail(`error ${event.data || ""}`.trim()));
  }

  fail(reason) {
    if (this.closed) return;
    this.close();
    this.handlers.lost?.(reason);
  }

  close() {
    this.closed = true;
    if (this.source) this.source.close();
    this.source = null;
  }
}
