/** `startKbs` lives in server/bench/kbs-process.ts, shared with `kbs bench`. */
export { kbsBin, startKbs, type KbsProcess } from "../../server/bench/kbs-process";
