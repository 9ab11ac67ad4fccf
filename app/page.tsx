import { Home } from "../components/chooser/Home";
import { firstParam, type SearchParams } from "../components/api/params";

// Deep links `/?project=klipper&rev=v0.13.0` pre-select the chooser.
export default async function Page({ searchParams }: { searchParams: SearchParams }) {
  const q = await searchParams;
  return <Home project={firstParam(q.project)} rev={firstParam(q.rev)} />;
}
