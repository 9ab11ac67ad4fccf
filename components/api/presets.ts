// Board presets and flashing guidance as the API shows them (server/presets).

export interface PresetOption {
  symbol: string;
  label: string;
}

export interface PresetQuestion {
  id: string;
  kind: string;
  text: string;
  context?: string;
  options: PresetOption[];
}

export interface PresetSummary {
  id: string;
  title: string;
  file: string;
  mcu: string | null;
  complete: boolean;
  questions: PresetQuestion[];
}

export interface FlashLines {
  lines: string[];
  saveAs: string | null;
}

/** GET /api/configs/:id/preset */
export interface PresetOrigin {
  configId: string;
  project: string;
  commit: string;
  preset: string;
  file: string;
  title: string;
  header: string;
  flash: FlashLines;
  questions: PresetQuestion[];
  offers: Array<{ text: string; phrases: string[] }>;
  matched: Array<{ phrase: string; symbol: string; prompt: string; how: string }>;
}

/** A board picked in the chooser, with the answers given to its questions. */
export interface ChosenBoard {
  preset: PresetSummary;
  answers: Record<string, string>;
}

/** Whether a project's recipe has board presets (GET /api/projects adds `presets`). */
export const hasPresets = (p: { presets?: boolean } | undefined) => !!p?.presets;
