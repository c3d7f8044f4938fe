import { describe, expect, it } from "vitest";
import type { StoredEvent } from "../audit/query.ts";
import { MigrationPolicy } from "../config/schema.ts";
import { buildClusterView } from "../planning/clusterView.ts";
import { buildClusterData } from "../planning/fixtures/build.ts";
import { planEvacuation } from "../planning/plan.ts";
import type { MigrationResult } from "../worker/migrateVm.ts";
import {
  auditCard,
  nodesCard,
  planCard,
  progressCard,
  resultCard,
  settledPlanCard,
  statusCard,
  summaryCard,
} from "./cards.ts";
import { planViewOf } from "./planView.ts";

const policy = MigrationPolicy.parse({ headroomBytes: 0 });
const data = buildClusterData({
  nodes: [
    { name: "node1", memGiB: 64, usedGiB: 20 },
    { name: "node2", memGiB: 64, usedGiB: 10 },
    { name: "node3", memGiB: 64, maintenance: true },
  ],
  guests: [
    { vmid: 101, node: "node1", name: "web", memMiB: 2048 },
    { vmid: 102, node: "node1", name: "gpu", memMiB: 1024, extraConfig: { hostpci0: "0000:01:00.0" } },
    { vmid: 103, node: "node1", name: "old", memMiB: 1024, status: "stopped" },
    { vmid: 201, node: "node2", name: "db", memMiB: 4096 },
  ],
});
const view = buildClusterView(data);
const plan = planViewOf(planEvacuation(view, { source: "node1" }, policy), "evacuate");

const moved: MigrationResult = {
  vmid: 101,
  name: "web",
  source: "node1",
  target: "node2",
  status: "succeeded",
  upid: "UPID:node1:00001234:00005678:65000000:qmigrate:101:root@pam:",
  pve: {
    status: "completed",
    durationMs: 12_300,
    downtimeMs: 46,
    transferredBytes: 384 * 1024 ** 2,
    totalBytes: 2 * 1024 ** 3,
  },
  qos: {
    measured: true,
    method: "tcp",
    address: "10.0.0.5:22",
    observedDowntimeMs: 150,
    report: {
      grades: {
        delay: { value: 0.4, unit: "ms", grade: "veryGood", label: "very good", basis: "mean RTT" },
        loss: { value: 1.5, unit: "%", grade: "fair", label: "fair", basis: "lost probes" },
        data: { value: 0.19, unit: "x", grade: "veryGood", label: "very good", basis: "ratio" },
      },
    },
    chartKey: "k",
  },
};
const failed: MigrationResult = {
  vmid: 102,
  name: "gpu",
  source: "node1",
  target: "node2",
  status: "blocked",
  error: "local resources: hostpci0",
  checklist: [{ name: "local resources", status: "fail", reason: "hostpci0 ties it to node1" }],
};

describe("plan card", () => {
  it("keeps the '… and N more' line within an embed's description limit for a long plan", () => {
    const move = plan.moves[0];
    if (!move) throw new Error("fixture has a move");
    const long = {
      ...plan,
      moves: Array.from({ length: 30 }, (_, i) => ({
        ...move,
        vmid: 1000 + i,
        name: `a-rather-long-container-name-${i}-${"x".repeat(60)}`,
        notes: ["restart migration: the container stops, moves and starts again (it goes down)"],
      })),
    };
    const card = planCard(long, { planId: "0123456789abcdef" });
    const text = (card.lines ?? []).join("\n");
    expect(text.length).toBeLessThan(4096);
    expect(text).toMatch(/… and \d+ more/);
  });

  it("lists moves in order, blocked guests with reasons, skipped ones, and offers Confirm/Cancel", () => {
    const card = planCard(plan, {
      planId: "0123456789abcdef",
      expiresAt: Date.UTC(2026, 0, 1, 8, 10),
      requestedBy: "alice",
    });
    expect(card.title).toBe("Evacuation plan for node1");
    expect(card.lines?.[1]).toBe("1. VM 101 web (qemu, 2.0 GiB) node1 → node2, live");
    expect(card.fields?.map((f) => f.name)).toEqual([
      "Blocked (1): cannot move",
      "Skipped (1): left in place",
      "Targets",
    ]);
    expect(card.fields?.[0]?.value).toMatch(/^VM 102 gpu: .*hostpci0/);
    expect(card.buttons).toEqual([
      { id: "plan:confirm:0123456789abcdef", label: "Confirm", style: "danger" },
      { id: "plan:cancel:0123456789abcdef", label: "Cancel", style: "secondary" },
    ]);
    expect(card.footer).toBe("Requested by alice. Only the requester can confirm, until 08:10:00 UTC.");
  });

  it("has no buttons for a dry run or when nothing can move, and loses them once settled", () => {
    expect(planCard(plan, { planId: "0123456789abcdef", dryRun: true }).buttons).toBeUndefined();
    expect(planCard({ ...plan, moves: [] }, { planId: "0123456789abcdef" })).toMatchObject({
      lines: ["Nothing can be moved."],
      tone: "warning",
    });
    const settled = settledPlanCard(
      planCard(plan, { planId: "0123456789abcdef" }),
      "Confirmed by alice",
      "success",
    );
    expect(settled.buttons).toBeUndefined();
    expect(settled).toMatchObject({ footer: "Confirmed by alice", tone: "success" });
  });
});

describe("progress, result and summary cards", () => {
  it("shows overall and per-VM progress with text bars", () => {
    const card = progressCard({
      evacuationId: "ev1",
      kind: "evacuate",
      source: "node1",
      status: "running",
      total: 4,
      requestedBy: "alice",
      items: [
        { vmid: 101, name: "web", target: "node2", state: "done", result: "succeeded" },
        { vmid: 104, name: "app", target: "node2", state: "running", step: "migrating", fraction: 0.5 },
        { vmid: 105, name: "api", target: "node2", state: "waiting" },
        { vmid: 106, name: "mq", target: "node2", state: "waiting" },
      ],
    });
    expect(card.title).toBe("Evacuation of node1: running");
    expect(card.lines).toEqual([
      "[########------------]  38%  1 of 4 done",
      "✅ VM 101 web → node2: moved",
      "▶ VM 104 app → node2: migrating [#####-----]  50%",
      "… VM 105 api → node2: waiting",
      "… VM 106 mq → node2: waiting",
    ]);
    expect(card.footer).toBe("ev1 · requested by alice");
  });

  it("puts PVE's downtime next to what clients saw, the grades and the chart", () => {
    const chart = new Uint8Array([137, 80, 78, 71]);
    const card = resultCard(moved, { chart });
    expect(card.title).toBe("✅ VM 101 (web) node1 → node2: moved");
    expect(Object.fromEntries((card.fields ?? []).map((f) => [f.name, f.value]))).toEqual({
      "PVE downtime": "46 ms",
      "Client-observed downtime": "150 ms",
      "Migration time": "12.3 s",
      "Data transferred": "384.0 MiB (memory 2.0 GiB)",
      "QoS grades": "delay: 0.4 ms — very good\npacket loss: 1.50 % — fair\ndata / memory: 0.19× — very good",
    });
    expect(card.image).toBe("chart-101.png");
    expect(card.attachments).toEqual([{ name: "chart-101.png", data: chart, contentType: "image/png" }]);
    expect(card.tone).toBe("success");
  });

  it("says why a VM did not move", () => {
    const card = resultCard(failed);
    expect(card.title).toBe("⛔ VM 102 (gpu) node1 → node2: blocked");
    expect(card.lines).toEqual([
      "Reason: local resources: hostpci0",
      "Pre-check local resources fail: hostpci0 ties it to node1",
    ]);
    expect(card.fields?.find((f) => f.name === "Client-observed downtime")?.value).toBe("not measured");
    expect(card.tone).toBe("danger");
  });

  it("sums an evacuation up, stopped ones with their reason", () => {
    const card = summaryCard(
      {
        id: "ev1",
        kind: "evacuate",
        source: "node1",
        status: "stopped",
        stopReason: "VM 102 (gpu) blocked",
        requestedBy: { kind: "discord", id: "1", name: "alice" },
      },
      [moved, failed, { ...moved, vmid: 103, name: "old", status: "skipped", error: "evacuation stopped" }],
    );
    expect(card.title).toBe("Evacuation of node1 stopped: 1 moved, 1 blocked, 1 skipped");
    expect(card.fields?.map((f) => [f.name, f.value])).toEqual([
      ["Total migration time", "12.3 s"],
      ["Data transferred", "384.0 MiB"],
      ["Longest client outage", "150 ms"],
      ["Stopped", "VM 102 (gpu) blocked"],
    ]);
    expect(card.tone).toBe("danger");
  });
});

describe("status, nodes and audit cards", () => {
  it("says when nothing runs", () => {
    expect(statusCard([])).toMatchObject({ title: "No evacuation is running" });
  });

  it("shows each node's state, memory and running guests", () => {
    const card = nodesCard(view);
    expect(card.title).toBe("Cluster: 3 node(s), quorate");
    expect(card.lines?.[0]).toMatch(
      /^🟢 node1: online · memory .* free of 64\.0 GiB \(\d+ % used\) · 2 running of 3 guests$/,
    );
    expect(card.lines?.[2]).toMatch(/^🛠 node3: maintenance/);
    expect(card.footer).toBe("0 offline, 1 in maintenance");
  });

  it("shows the newest entries and attaches all of them", () => {
    const events: StoredEvent[] = Array.from({ length: 20 }, (_, i) => ({
      id: `${i}-0`,
      prev: "",
      hash: "",
      canonical: "{}",
      event: {
        type: "command.denied",
        at: `2026-01-01T08:${String(i).padStart(2, "0")}:00.000Z`,
        actor: { kind: "discord", id: "9", name: "vera" },
        command: "/evacuate node:node1",
        reason: "no role",
      },
    }));
    const card = auditCard(events, {
      filter: "node node1",
      csv: { name: "audit.csv", data: Buffer.from("x") },
    });
    expect(card.title).toBe("Audit log (node node1)");
    expect(card.lines?.[0]).toBe("Newest 15 of 20 (all of them in the CSV):");
    expect(card.lines?.at(-1)).toBe(
      "2026-01-01 08:19Z vera: command.denied denied /evacuate node:node1: no role",
    );
    expect(card.attachments?.[0]).toMatchObject({ name: "audit.csv", contentType: "text/csv" });
  });
});
