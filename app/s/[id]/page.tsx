import type { Metadata } from "next";
import { SessionView } from "../../../components/session/SessionView";
import { firstParam, type SearchParams } from "../../../components/api/params";

export const metadata: Metadata = { title: "menuconfig — kbs" };

export default async function Page(props: { params: Promise<{ id: string }>; searchParams: SearchParams }) {
  const { id } = await props.params;
  const q = await props.searchParams;
  return <SessionView id={id} project={firstParam(q.project)} rev={firstParam(q.rev)} from={firstParam(q.from)} arch={firstParam(q.arch)} />;
}
