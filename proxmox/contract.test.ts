import { fileURLToPath } from "node:url";
import { loadConfigFromProcess } from "../config/load.ts";
import { describePveClientContract } from "./contract.ts";
import { createHttpPveClient, httpClientOptionsFromConfig } from "./httpClient.ts";
import { createReplayClient, loadSnapshotFile } from "./snapshot.ts";

const fixture = fileURLToPath(new URL("./fixtures/snapshot-small.json", import.meta.url));

describePveClientContract("snapshot replay (fixture)", async () => ({
  client: createReplayClient(loadSnapshotFile(fixture)),
}));

// A real cluster, read-only: opt in with PVE_CONTRACT_LIVE=1 and the usual PVE_* variables.
if (process.env.PVE_CONTRACT_LIVE === "1") {
  describePveClientContract("HTTP client (live cluster)", async () => {
    const { pve } = loadConfigFromProcess();
    if (!pve) throw new Error("PVE_CONTRACT_LIVE=1 needs PVE_HOST, PVE_TOKEN_ID, PVE_TOKEN_SECRET, ...");
    const client = createHttpPveClient(httpClientOptionsFromConfig(pve));
    return { client, close: () => client.close() };
  });
}
