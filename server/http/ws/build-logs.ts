import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { WebSocketServer } from "ws";
import type { BuildService } from "../../builds/service";
import type { UpgradeRoute } from "./route";

/**
 * `/ws/builds/:id/log`: the build log, live. Text frames carry log text from the start
 * (UTF-8 never split); when the build ends the server closes with code 1000 and the
 * final state as the reason. An unknown build closes with 4404. Logs are readable by
 * anyone with the build id (as GET /api/builds/:id/log is), so no origin check.
 */
export function buildLogUpgrade(builds: BuildService): UpgradeRoute {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  return {
    prefix: "/ws/builds/",
    handle(req: IncomingMessage, socket: Duplex, head: Buffer) {
      const m = /^\/ws\/builds\/([0-9a-f]{1,64})\/log\/?$/.exec((req.url ?? "").split("?")[0]!);
      wss.handleUpgrade(req, socket, head, (ws) => {
        const build = m ? builds.get(m[1]!) : undefined;
        if (!build) return ws.close(4404, "unknown build");
        const ac = new AbortController();
        ws.on("close", () => ac.abort());
        const decoder = new StringDecoder("utf8");
        void (async () => {
          for await (const chunk of builds.followLog(build.id, ac.signal)) {
            const text = decoder.write(chunk);
            if (text) ws.send(text);
          }
          const rest = decoder.end();
          if (rest) ws.send(rest);
          ws.close(1000, builds.get(build.id)?.state ?? "");
        })().catch(() => ws.terminate());
      });
    },
  };
}
