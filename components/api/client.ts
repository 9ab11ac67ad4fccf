// Browser-side calls to the kbs JSON API on the same origin.

/** An API error as the server reported it: `{error:{code, message}}`, or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

async function errorFrom(res: Response): Promise<ApiError> {
  const body: unknown = await res.json().catch(() => undefined);
  const err = (body as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
  if (err?.message) return new ApiError(res.status, err.code ?? "error", err.message, err.details);
  return new ApiError(res.status, `http_${res.status}`, `The server answered ${res.status} ${res.statusText} for ${res.url}.`);
}

export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers: init.body === undefined ? undefined : { "Content-Type": "application/json" },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: init.signal,
      cache: "no-store",
    });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, "network", "The kbs server cannot be reached. Check that it is running, then try again.");
  }
  if (!res.ok) throw await errorFrom(res);
  return (await res.json()) as T;
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
