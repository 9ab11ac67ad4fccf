import { Home } from "../components/chooser/Home";

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

// Deep links `/?project=klipper&rev=v0.13.0` pre-select the chooser.
export default async function Page({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const q = await searchParams;
  return <Home project={one(q.project)} rev={one(q.rev)} />;
}
