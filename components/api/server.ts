// Server components reach the kbs API over loopback, at the address server/main.ts
// hands over (contracts/internal-url.ts) before Next serves the first page.

import { internalUrl } from "../../contracts/internal-url";

export class ServerApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function get(path: string): Promise<Response> {
  const res = await fetch(internalUrl() + path, { cache: "no-store" });
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
