import type { NextConfig } from "next";

// The domain lives in server/ and is served by server/main.ts; Next only renders pages.
// Type errors are caught by `npm run typecheck` over the whole repo, so the build does not repeat it.
const nextConfig: NextConfig = {
  typescript: { ignoreBuildErrors: true },
  poweredByHeader: false,
  reactStrictMode: true,
};

export default nextConfig;
