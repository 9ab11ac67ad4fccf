import Link from "next/link";
import { connection } from "next/server";
import { button } from "../components/ui/styles";

// Rendered per request, not prerendered: its inline scripts then carry the request's CSP nonce.
export default async function NotFound() {
  await connection();
  return (
    <main className="mx-auto max-w-xl px-4 py-16">
      <p className="font-mono text-sm text-slate-500">404</p>
      <h1 className="mt-1 text-xl font-semibold">Nothing here</h1>
      <p className="mt-2 text-slate-300">
        This link names a session, config or build that this server does not have. Sessions end after a while without input; configs and builds stay, so check
        that the link was copied whole.
      </p>
      <Link href="/" className={button.primary + " mt-6"}>
        Choose a project
      </Link>
    </main>
  );
}
