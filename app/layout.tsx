import type { Metadata, Viewport } from "next";
import Link from "next/link";
import "./globals.css";

export const metadata: Metadata = {
  title: "kbs — Kconfig build service",
  description: "menuconfig in the browser for Klipper, Kalico, Linux and VM images; share configs, build firmware.",
};

export const viewport: Viewport = { width: "device-width", initialScale: 1, themeColor: "#020617" };

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body className="min-h-screen">
        <header className="flex h-12 items-center gap-4 border-b border-slate-800 px-4">
          <Link href="/" className="font-mono text-lg font-semibold tracking-tight text-emerald-400">
            kbs
          </Link>
          <span className="hidden text-sm text-slate-400 sm:inline">Kconfig build service</span>
        </header>
        {children}
      </body>
    </html>
  );
}
