// One EventSource per run: the server's combined channel /api/runs/{id}/events (docs/engine-api.md, "The
// server's SSE protocol"). A browser allows only six HTTP/1.1 connections per origin, so a channel per
// provider would stall with many providers or tabs.
//
// Exactly-once delivery to the page: ids are one run-wide growing integer sequence, so every event whose id is
// not above the last one handled is a duplicate and is dropped. When the connection drops, the browser
// reconnects by itself and sends Last-Event-ID; the server resumes after it. If the browser gives up (an HTTP
// error while reconnecting), a new EventSource resumes with ?last_event_id=, and the same rule drops anything
// sent twice. `reset` (the server did not know our Last-Event-ID) means the full history follows: the page
// starts over from id 0.

const EVENTS = ["start", "delta", "metrics", "notice", "error", "done", "end", "reset"];

export class RunStream {
  /**
   * @param {string} url  the combined channel
   * @param {object} on   handlers: event(name, data), reset(data), end(data), state(s) where s is
   *                      "connecting" | "live" | "reconnecting" | "failed" | "closed"
   */
  constructor(url, on) {
    this.url = url;
    this.on = on;
    this.lastId = 0;
    this.es = null;
    this.closed = false;
    this.retries = 0;
    this.retryTimer = 0;
    this.everOpened = false;
  }

  open() {
    this.closed = false;
    this._connect();
    return this;
  }

  _connect() {
    let url = this.url;
    if (this.lastId > 0) url += (url.includes("?") ? "&" : "?") + `last_event_id=${this.lastId}`;
    const es = new EventSource(url);
    this.es = es;
    this.on.state(this.everOpened ? "reconnecting" : "connecting");
    es.onopen = () => {
      if (es !== this.es) return;
      this.everOpened = true;
      this.retries = 0;
      this.on.state("live");
    };
    es.onerror = (e) => {
      // the protocol's own "error" event (a provider failed) arrives here too, as a MessageEvent: it is
      // handled by the listener below, and says nothing about the connection
      if (e instanceof MessageEvent) return;
      if (es !== this.es || this.closed) return;
      if (es.readyState === EventSource.CONNECTING) {
        // the browser retries by itself and sends Last-Event-ID
        this.on.state("reconnecting");
        return;
      }
      // CLOSED: the browser gave up (HTTP error or wrong content type); try again ourselves, resuming after
      // the last id handled (the server also takes it as ?last_event_id=, as a new EventSource cannot set
      // the Last-Event-ID header)
      es.close();
      this.retries += 1;
      if (this.retries > 8) {
        this.on.state("failed");
        return;
      }
      this.on.state("reconnecting");
      const delay = Math.min(8000, 400 * 2 ** (this.retries - 1));
      this.retryTimer = setTimeout(() => { if (!this.closed) this._connect(); }, delay);
    };
    for (const name of EVENTS) {
      es.addEventListener(name, (e) => {
        if (es === this.es && e instanceof MessageEvent) this._handle(name, e);   // not the native error
      });
    }
  }

  _handle(name, e) {
    let data = {};
    try { data = e.data ? JSON.parse(e.data) : {}; } catch { data = { raw: e.data }; }
    if (name === "reset") {
      this.lastId = 0;
      this.on.reset(data);
      return;
    }
    const id = Number.parseInt(e.lastEventId, 10);
    if (Number.isFinite(id) && id > 0) {
      if (id <= this.lastId) return;        // already handled (resumed or replayed from the start)
      this.lastId = id;
    }
    if (name === "end") {
      this.close();                          // a finished run: no automatic reconnect
      this.on.end(data);
      return;
    }
    this.on.event(name, data);
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (this.es) this.es.close();
    this.on.state("closed");
  }
}
