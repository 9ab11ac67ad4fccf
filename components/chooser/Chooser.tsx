"use client";

import { useRouter } from "next/navigation";
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError, errorText } from "../api/client";
import type { CreatedConfig, CreatedPresetConfig, CreatedSession, KernelStarted, ProjectSummary, Revision } from "../../contracts/api";
import { apiPath, pagePath } from "../../contracts/urls";
import { ErrorNote } from "../ui/ErrorNote";
import { button } from "../ui/styles";
import { BoardStart, type ChosenBoard } from "./BoardStart";
import { ConfigDrop } from "./ConfigDrop";
import { KernelStart } from "./KernelStart";
import { ProjectList, SyncNotice } from "./ProjectList";
import { RevisionPicker } from "./RevisionPicker";

/** True when `want` names this revision: describe, a ref name, or a sha prefix. */
function names(r: Revision, want: string): boolean {
  return r.describe === want || r.sha.startsWith(want.toLowerCase()) || r.refs.some((ref) => ref === want || ref.split(":")[1] === want);
}

function useProjects() {
  const [projects, setProjects] = useState<ProjectSummary[]>();
  const [error, setError] = useState<string>();
  const load = useCallback(
    () =>
      api<ProjectSummary[]>(apiPath.projects()).then(
        (list) => {
          setProjects(list);
          setError(undefined);
        },
        (e: unknown) => setError(errorText(e)),
      ),
    [],
  );
  const syncing = projects?.some((p) => p.sync?.state === "syncing") ?? false;
  useEffect(() => {
    const t = setTimeout(() => void load(), 0);
    return () => clearTimeout(t);
  }, [load]);
  // While a sync runs, its progress and revision count change: poll until it ends.
  useEffect(() => {
    if (!syncing) return;
    const t = setInterval(() => void load(), 2000);
    return () => clearInterval(t);
  }, [syncing, load]);
  return { projects, error, reload: load };
}

function useRevisions(project: string | undefined, query: string, revisionCount: number | undefined) {
  const [state, setState] = useState<{ key: string; revisions: Revision[]; error?: string }>({ key: "", revisions: [] });
  const key = project ? `${project}\n${query}\n${revisionCount}` : "";
  useEffect(() => {
    if (!project) return;
    const ctl = new AbortController();
    // Debounced: one request per pause in typing, not per key.
    const t = setTimeout(() => {
      api<Revision[]>(apiPath.revisions(project, { limit: 100, q: query.trim() }), { signal: ctl.signal })
        .then((revisions) => setState({ key, revisions }))
        .catch((e: unknown) => {
          if ((e as Error).name !== "AbortError") setState({ key, revisions: [], error: errorText(e) });
        });
    }, 120);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [project, query, key]);
  const current = state.key === key;
  return { revisions: current ? state.revisions : [], loading: !current && !!project, error: current ? state.error : undefined, forKey: state.key };
}

/**
 * The chooser: project, revision, optional starting .config and arch, then Confirm
 * creates a session and opens it. Keyboard first: arrows + Enter in each list, Esc
 * clears the search and then closes.
 */
export function Chooser(props: { initialProject?: string; initialRev?: string; onClose(): void }) {
  const router = useRouter();
  const { projects, error: projectsError, reload } = useProjects();
  const [project, setProject] = useState<string | undefined>(props.initialProject);
  const [query, setQuery] = useState(props.initialRev ?? "");
  const [active, setActive] = useState(0);
  const [rev, setRev] = useState<Revision>();
  const [configText, setConfigText] = useState("");
  const [configName, setConfigName] = useState<string>();
  const [configError, setConfigError] = useState<string>();
  const [arch, setArch] = useState<string>();
  const [start, setStart] = useState("");
  const [board, setBoard] = useState<ChosenBoard>();
  const [submitError, setSubmitError] = useState<ApiError | Error>();
  const [busy, setBusy] = useState(false);
  // The deep link's revision counts as chosen until the user picks or searches otherwise.
  const [deepLink, setDeepLink] = useState(!!props.initialRev);

  const current = projects?.find((p) => p.id === project);
  const arches = current?.arches ?? [];
  const { revisions, loading, error: revError } = useRevisions(current?.id, query, current?.revisions);

  const dialogRef = useRef<HTMLDivElement>(null);
  const projectListRef = useRef<HTMLUListElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const confirmRef = useRef<HTMLButtonElement>(null);

  // First focus: the revision search when a deep link named the project, else the project list.
  // Only while the user has not put the focus anywhere themselves: the projects load after the
  // page is usable, and a paste into the .config box must not land in the search instead.
  const focused = useRef(false);
  useEffect(() => {
    if (focused.current || !projects) return;
    focused.current = true;
    if (props.initialProject && projects.some((p) => p.id === props.initialProject)) setTimeout(() => focusUnlessBusy(searchRef.current, dialogRef.current), 0);
    else focusUnlessBusy(projectListRef.current, dialogRef.current);
  }, [projects, props.initialProject]);

  // A deep link's project must exist, or say which ones do.
  const unknownProject = projects && project && !current ? project : undefined;

  const deepLinkSettled = deepLink && !!current && !loading && !!props.initialRev;
  const deepMatch = deepLinkSettled ? revisions.find((r) => names(r, props.initialRev!)) : undefined;
  const deepLinkError =
    deepLinkSettled && !deepMatch && (current.revisions > 0 || current.sync?.state !== "syncing")
      ? `${current.name} has no revision "${props.initialRev}". Pick one from the list, or search by tag, branch or sha.`
      : undefined;
  const chosen = rev ?? deepMatch;
  // A deep link that names a revision lands on Confirm: Enter opens it.
  const deepMatchSha = deepMatch?.sha;
  useEffect(() => {
    if (deepMatchSha) focusUnlessBusy(confirmRef.current, dialogRef.current, searchRef.current);
  }, [deepMatchSha]);

  const selectProject = (id: string) => {
    if (id === project) return;
    setProject(id);
    setRev(undefined);
    setQuery("");
    setActive(0);
    setArch(undefined);
    setStart("");
    setBoard(undefined);
    setSubmitError(undefined);
    setConfigError(undefined);
    setDeepLink(false);
  };

  const pick = (r: Revision) => {
    if (r.sha !== chosen?.sha) setBoard(undefined);
    setRev(r);
    setDeepLink(false);
    setSubmitError(undefined);
    setTimeout(() => confirmRef.current?.focus(), 0);
  };

  const confirm = async () => {
    const rev = chosen;
    if (!current || !rev) return;
    setBusy(true);
    setSubmitError(undefined);
    setConfigError(undefined);
    try {
      let configId: string | undefined;
      // Left alone, the select shows the tree's default ARCH, which the server picks too.
      let chosenArch = arches.length ? arch : undefined;
      if (configText.trim()) {
        try {
          configId = (await api<CreatedConfig>(apiPath.configs(), { body: { project: current.id, rev: rev.sha, text: configText } })).id;
        } catch (e) {
          setConfigError(`This .config was not accepted: ${errorText(e)}`);
          return;
        }
      } else if (start && arches.length) {
        // The tree's own `make <start>` for that ARCH, in a sandbox; the session opens on its result.
        const made = await api<KernelStarted>(apiPath.kernelStart(), { body: { project: current.id, rev: rev.sha, arch: chosenArch, start } });
        configId = made.id;
        chosenArch = made.arch;
      } else if (board) {
        // The revision's own board file, matched to its Kconfig in a sandbox.
        configId = (await api<CreatedPresetConfig>(apiPath.presetConfigs(), { body: { project: current.id, rev: rev.sha, preset: board.preset.id, answers: board.answers } })).configId;
      }
      const session = await api<CreatedSession>(apiPath.sessions(), { body: { project: current.id, rev: rev.sha, configId, arch: chosenArch } });
      router.push(pagePath.session(session.id, { project: current.id, rev: rev.describe, from: board ? configId : undefined, arch: chosenArch }));
    } catch (e) {
      setSubmitError(e as Error);
    } finally {
      setBusy(false);
    }
  };

  const close = () => {
    props.onClose();
    return true;
  };

  return (
    <div className="fixed inset-0 z-40 flex items-start justify-center overflow-y-auto bg-slate-950/80 p-2 backdrop-blur-sm sm:p-6">
      <div
        ref={dialogRef}
        role="dialog"
        aria-modal="true"
        aria-labelledby="chooser-title"
        className="flex w-full max-w-5xl flex-col gap-3 rounded-xl border border-slate-700 bg-slate-900 p-3 shadow-2xl sm:p-5"
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            close();
          } else if (e.key === "Tab") trapFocus(e, dialogRef.current);
        }}
      >
        <div className="flex items-center justify-between gap-2">
          <h2 id="chooser-title" className="text-lg font-semibold">
            Choose a project and revision
          </h2>
          <button type="button" className={button.ghost + " shrink-0 whitespace-nowrap"} onClick={close} aria-label="Close chooser">
            Esc ✕
          </button>
        </div>

        {projectsError && (
          <ErrorNote title="Projects could not be loaded" action={<button className={button.secondary} onClick={() => void reload()}>Try again</button>}>
            {projectsError}
          </ErrorNote>
        )}
        {unknownProject && (
          <ErrorNote title={`Unknown project "${unknownProject}"`}>Known projects: {projects!.map((p) => p.id).join(", ")}. Pick one below.</ErrorNote>
        )}

        <div className="grid min-h-0 gap-3 md:grid-cols-[18rem_1fr]">
          <section aria-labelledby="projects-heading" className="flex min-h-0 flex-col gap-1.5">
            <h3 id="projects-heading" className="text-xs font-semibold uppercase tracking-wide text-slate-400">
              1 · Project
            </h3>
            {projects ? (
              <ProjectList
                projects={projects}
                selected={current?.id}
                onSelect={selectProject}
                onCommit={() => setTimeout(() => searchRef.current?.focus(), 0)}
                listRef={projectListRef}
              />
            ) : (
              !projectsError && <div className="h-40 animate-pulse rounded-md bg-slate-800/50" aria-label="Loading projects" />
            )}
          </section>
          <section aria-labelledby="revisions-heading" className="flex h-[22rem] min-h-0 flex-col gap-1.5 md:h-[26rem]">
            <h3 id="revisions-heading" className="text-xs font-semibold uppercase tracking-wide text-slate-400">
              2 · Revision <span className="font-normal normal-case tracking-normal text-slate-500">— tags and branch heads first; ↑↓ and Enter</span>
            </h3>
            {current && <SyncNotice p={current} onSync={() => void api(apiPath.sync(current.id), { method: "POST", body: {} }).then(reload, reload)} />}
            {deepLinkError && <ErrorNote>{deepLinkError}</ErrorNote>}
            {revError && <ErrorNote title="Revisions could not be loaded">{revError}</ErrorNote>}
            <RevisionPicker
              projectName={current?.name}
              query={query}
              onQuery={(q) => {
                setQuery(q);
                setActive(0);
                setDeepLink(false);
              }}
              revisions={revisions}
              loading={loading}
              active={active}
              onActive={setActive}
              selected={chosen?.sha}
              onPick={pick}
              onEscape={close}
              inputRef={searchRef}
              emptyHint={
                !current
                  ? "Pick a project first (↑↓ then Enter)."
                  : current.sync?.state === "syncing"
                    ? "Sync in progress — revisions appear as they are indexed."
                    : current.revisions === 0
                      ? current.sync?.state === "failed"
                        ? "No revisions: the sync failed (see above). Try Sync now, or pick another project."
                        : "No revisions yet: this project has not been synced."
                      : undefined
              }
            />
          </section>
        </div>

        <ConfigDrop
          text={configText}
          name={configName}
          error={configError}
          onText={(t, n) => {
            setConfigText(t);
            setConfigName(n);
            setConfigError(undefined);
          }}
        />

        {current && current.presets && (
          <BoardStart project={current.id} rev={chosen?.sha} board={board} onBoard={setBoard} disabledReason={configText.trim() ? "The pasted .config is the starting point." : undefined} />
        )}

        {submitError && <SubmitError error={submitError} />}

        <div className="flex flex-wrap items-center justify-end gap-3 border-t border-slate-800 pt-3">
          {current && arches.length > 0 && (
            <KernelStart
              project={current.id}
              rev={chosen?.sha}
              fallbackArches={arches}
              arch={arch}
              onArch={setArch}
              start={start}
              onStart={setStart}
              disabledReason={configText.trim() ? "The pasted .config is the starting point." : undefined}
            />
          )}
          <span className="min-w-0 truncate text-sm text-slate-400" aria-live="polite">
            {current && chosen ? (
              <>
                {current.name} @ <span className="font-mono text-slate-200">{chosen.describe}</span>
              </>
            ) : (
              "Pick a project and a revision"
            )}
          </span>
          <button ref={confirmRef} type="button" className={button.primary} disabled={!current || !chosen || busy} onClick={() => void confirm()}>
            {busy ? "Starting menuconfig…" : "Confirm"}
          </button>
        </div>
      </div>
    </div>
  );
}

function SubmitError({ error }: { error: Error }) {
  const code = error instanceof ApiError ? error.code : "";
  const hint =
    code === "unknown_revision"
      ? "Pick another revision from the list."
      : /sandbox/.test(code)
        ? "The server cannot start sandboxes right now; an operator can run `kbs doctor` to see why."
        : code === "network"
          ? ""
          : "Try again; if it keeps failing, the server log has the details.";
  return (
    <ErrorNote title="menuconfig could not be started">
      {error.message} {hint}
    </ErrorNote>
  );
}

/**
 * Move the focus to `el` unless the user is using another control: only from nowhere (the
 * page or the dialog itself) or from `ours`, a control the chooser focused itself.
 */
function focusUnlessBusy(el: HTMLElement | null, dialog: HTMLElement | null, ours?: HTMLElement | null) {
  const now = document.activeElement;
  if (!now || now === document.body || now === dialog || now === ours) el?.focus();
}

/** Keep Tab inside the dialog. */
function trapFocus(e: React.KeyboardEvent, root: HTMLElement | null) {
  if (!root) return;
  const items = Array.from(root.querySelectorAll<HTMLElement>('button, [href], input, select, textarea, [tabindex]:not([tabindex="-1"])')).filter((el) => !el.hasAttribute("disabled"));
  if (items.length === 0) return;
  const first = items[0]!;
  const last = items[items.length - 1]!;
  if (e.shiftKey && document.activeElement === first) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && document.activeElement === last) {
    e.preventDefault();
    first.focus();
  }
}
