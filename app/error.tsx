"use client";

import Link from "next/link";
import { button } from "../components/ui/styles";

// Errors from server components arrive with a digest only (production hides messages).
export default function ErrorPage({ error, retry }: { error: unknown; retry: () => void }) {
  const digest = error instanceof Error ? (error as Error & { digest?: string }).digest : undefined;
  return (
    <main className="mx-auto max-w-xl px-4 py-16">
      <h1 className="text-xl font-semibold">This page could not be shown</h1>
      <p className="mt-2 text-slate-300">
        The kbs server did not answer as expected. Try again in a moment; if it keeps failing, the server log has the details
        {digest ? (
          <>
            {" "}
            under <code className="font-mono text-sm">{digest}</code>
          </>
        ) : null}
        .
      </p>
      <div className="mt-6 flex gap-2">
        <button type="button" className={button.primary} onClick={() => retry()}>
          Try again
        </button>
        <Link href="/" className={button.secondary}>
          Home
        </Link>
      </div>
    </main>
  );
}
