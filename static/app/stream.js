// A run's event stream (runs/CONTRACT.md). The first connection asks for the history from event 0,
// so opening a run late, or reloading the page, replays what was missed; when the connection drops
// the browser reconnects by itself and sends Last-Event-ID, and the stream resumes after it.
import { withQuery } from "./api.js";

const TYPES = ["start", "result", "progress", "complete"];

export class RunStream {
  // handlers: start, result, error (a coin failed), progress, complete, status(text),
  //           reconnected() after a drop, lost(reason) when the stream cannot be held
  constructor({ eventsUrl, runId, handlers }) {
    this.eventsUrl = eventsUrl;
    this.runId = runId;
    this.handlers = handlers;
    this.source = null;
    this.lastId = null;
    this.closed = false;
    this.down = false;
  }

  open() {
    const url = withQuery(this.eventsUrl, { lastEventId: `run-${this.runId}:0` });
    const source = new EventSource(url);
    this.source = source;
    const on = (type, fn) => source.addEventListener(type, (event) => {
      if (this.closed) return;
      if (event.lastEventId) this.lastId = event.lastEventId;
      let payload;
      try {
        payload = JSON.parse(event.data);
      } catch {
        return;
      }
      fn(payload);
    });
    for (const type of TYPES) on(type, (payload) => this.handlers[type]?.(payload));
    // "error" is both a run event (a coin failed, with data) and the EventSource's own connection error.
    source.addEventListener("error", (event) => {
      if (this.closed) return;
      if (typeof event.data === "string" && event.data) {
        if (event.lastEventId) this.lastId = event.lastEventId;
        try {
          this.handlers.error?.(JSON.parse(event.data));
        } catch {
          /* not JSON: ignore */
        }
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
