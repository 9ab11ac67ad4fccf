import { tmpDir } from "../../test/helpers/tmp";
import { createBackend } from "./service";
import { securityChecks } from "./security-checks";

const dataDir = tmpDir("kbs-sec-");
const backend = await createBackend("bwrap", { dataDir, env: process.env });

securityChecks("bwrap", { backend: () => backend, image: "menuconfig", dataDir, ownUid: process.getuid?.() === 0 });
