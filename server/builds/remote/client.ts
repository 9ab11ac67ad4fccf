import { setTimeout as sleep } from "node:timers/promises";
import { tokenHelp } from "../../workers/tokens";

/** An answer the worker cannot act on by retrying (401, 409, 422...): its message is the server's. */
export class ServerRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The server's token is not valid: the worker cannot do anything until an operator fixes it. */
export class BadToken extends ServerRefused {}

/**
 * The worker's side of the job API: every request carries the token and the worker's
 * name; a server that is not answering (restarting, a network blip, a 502 from its proxy)
 * is retried with backoff up to `patienceMs`, while refusals come back as ServerRefused.
 */
export class ServerClient {
  constructor(
    readonly base: string,
    private token: string,
    readonly worker: string,
    private patienceMs = 300_000,
  ) {}

  get authHeader(): string {
    return `Bearer ${this.token}`;
  }

  async request(method: string, p: string, opts: { body?: BodyInit | (() => BodyInit); json?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
    const deadline = Date.now() + this.patienceMs;
    for (let attempt = 0; ; attempt++) {
      let res: Response | undefined;
      let failure: unknown;
      try {
        const body = opts.json !== undefined ? JSON.stringify(opts.json) : typeof opts.body === "function" ? opts.body() : opts.body;
        res = await fetch(this.base + p, {
          method,
          headers: { Authorization: this.authHeader, "X-Kbs-Worker": this.worker, ...(opts.json !== undefined ? { "Content-Type": "application/json" } : {}), ...opts.headers },
          body,
          signal: opts.signal,
          // A stream body (an artifact) goes as it is read.
          duplex: "half",
        } as RequestInit);
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        failure = e;
      }
      if (res && res.status < 500) {
        if (res.ok) return res;
        const text = await res.text();
        let err: { code?: string; message?: string } = {};
        try {
          err = (JSON.parse(text) as { error?: typeof err }).error ?? {};
        } catch {
          /* not JSON */
        }
        const message = err.message ?? `${method} ${p}: HTTP ${res.status}`;
        if (res.status === 401) throw new BadToken(401, err.code ?? "bad_worker_token", `${message}${message.includes("kbs worker-token") ? "" : ` ${tokenHelp}`}`);
        throw new ServerRefused(res.status, err.code ?? "refused", message);
      }
      if (Date.now() > deadline) {
        throw new Error(`the server at ${this.base} did not answer ${method} ${p} for ${Math.round(this.patienceMs / 1000)} s (${res ? `HTTP ${res.status}` : (failure as Error).message})`);
      }
      await res?.body?.cancel();
      await sleep(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)), undefined, { signal: opts.signal });
    }
  }

  async json<T>(method: string, p: string, json?: unknown): Promise<T> {
    const res = await this.request(method, p, { json: json ?? {} });
    return (await res.json()) as T;
  }
}
