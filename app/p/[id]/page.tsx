import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { serverApiOrMissing } from "../../../components/api/server";
import type { PrinterView } from "../../../contracts/api";
import { apiPath } from "../../../contracts/urls";
import { PrinterProfile } from "../../../components/printers/PrinterView";

export const metadata: Metadata = { title: "Printer — kbs" };

export default async function Page(props: { params: Promise<{ id: string }> }) {
  const { id } = await props.params;
  const printer = await serverApiOrMissing<PrinterView>(apiPath.printer(id));
  if (!printer) notFound();
  return <PrinterProfile initial={printer} />;
}
