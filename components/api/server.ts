// Server components reach the kbs API over loopback: server/main.ts sets
// KBS_INTERNAL_URL to its own address before Next serves the first page.

export class ServerApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function base(): string {
  const url = process.env.KBS_INTERNAL_URL;
  if (!url) throw new Error("KBS_INTERNAL_URL is not set: pages must be served by `kbs serve`.");
  return url;
}

async function get(path: string): Promise<Response> {
  const res = await fetch(base() + path, { cache: "no-store" });
  if (res.ok) return res;
  const body = (await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
  throw new ServerApiError(res.status, body?.error?.code ?? `http_${res.status}`, body?.error?.message ?? `${path} answered ${res.status}`);
}

export async function serverText(path: string): Promise<string> {
  return (await get(path)).text();
}

export async function serverApi<T>(path: string): Promise<T> {
  return (await (await get(path)).json()) as T;
}

/** Like serverApi, but a 404 becomes undefined so the page can call notFound(). */
export async function serverApiOrMissing<T>(path: string): Promise<T | undefined> {
  try {
    return await serverApi<T>(path);
  } catch (e) {
    if (e instanceof ServerApiError && e.status === 404) return undefined;
    throw e;
  }
}
