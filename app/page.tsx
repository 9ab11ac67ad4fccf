export default function Home() {
  return (
    <main className="mx-auto max-w-3xl p-6">
      <h1 className="text-2xl font-semibold">kbs</h1>
      <p className="mt-2 text-slate-300">Pick a project and a revision, configure it in its own menuconfig, share the config, build it.</p>
      <button type="button" className="mt-6 rounded bg-emerald-600 px-4 py-2 font-medium text-white hover:bg-emerald-500">
        Choose a project
      </button>
    </main>
  );
}
