import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { serverApiOrMissing } from "../../../components/api/server";
import type { Build } from "../../../contracts/api";
import { apiPath } from "../../../contracts/urls";
import { BuildView } from "../../../components/build/BuildView";

export const metadata: Metadata = { title: "Build — kbs" };

// The first state is rendered on the server (a finished build needs no JavaScript to read);
// the client then follows the build and its log.
export default async function Page(props: { params: Promise<{ id: string }> }) {
  const { id } = await props.params;
  const build = await serverApiOrMissing<Build>(apiPath.build(id));
  if (!build) notFound();
  return <BuildView initial={build} />;
}
