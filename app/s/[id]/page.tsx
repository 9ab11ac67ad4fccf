import type { Metadata } from "next";
import { SessionView } from "../../../components/session/SessionView";

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

export const metadata: Metadata = { title: "menuconfig — kbs" };

export default async function Page(props: { params: Promise<{ id: string }>; searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { id } = await props.params;
  const q = await props.searchParams;
  return <SessionView id={id} project={one(q.project)} rev={one(q.rev)} />;
}
