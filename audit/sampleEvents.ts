/**
 * One realistic event of every kind, for tests here and for modules that render events
 * (the Discord notifier, the CLI) to test against without writing their own fixtures.
 */
import type { AuditEvent, EventType } from "./events.ts";

const alice = { kind: "discord", id: "111111111111111111", name: "alice" } as const;
const worker = { kind: "worker", id: "worker-1" } as const;
const common = { evacuationId: "ev-20260101-1", node: "node1" } as const;
const upid = "UPID:node1:00001A2B:0012D687:65920000:qmigrate:101:root@pam:";

export const SAMPLE_EVENTS: { [T in EventType]: Extract<AuditEvent, { type: T }> } = {
  "evacuation.requested": {
    type: "evacuation.requested",
    at: "2026-01-01T08:00:00.000Z",
    actor: alice,
    ...common,
    mode: "evacuate",
    source: "node1",
    options: { dryRun: false, includeStopped: true, target: "node2" },
  },
  "plan.created": {
    type: "plan.created",
    at: "2026-01-01T08:00:01.000Z",
    actor: { kind: "system", id: "planner" },
    ...common,
    plan: {
      moves: [
        { vmid: 101, target: "node2" },
        { vmid: 102, target: "node2" },
      ],
      blocked: [{ vmid: 103, reason: "local disk local-lvm:vm-103-disk-0" }],
      skipped: [],
    },
  },
  "evacuation.confirmed": {
    type: "evacuation.confirmed",
    at: "2026-01-01T08:00:30.000Z",
    actor: alice,
    ...common,
  },
  "evacuation.cancelled": {
    type: "evacuation.cancelled",
    at: "2026-01-01T08:20:00.000Z",
    actor: alice,
    ...common,
    abortRunning: true,
    reason: "maintenance postponed",
  },
  "migration.queued": {
    type: "migration.queued",
    at: "2026-01-01T08:00:31.000Z",
    actor: worker,
    ...common,
    vmid: 101,
    target: "node2",
    position: 1,
    jobId: "ev-20260101-1:101",
  },
  "migration.state": {
    type: "migration.state",
    at: "2026-01-01T08:00:32.000Z",
    actor: worker,
    ...common,
    vmid: 101,
    from: "queued",
    to: "prechecking",
    step: "precheck",
  },
  "precheck.result": {
    type: "precheck.result",
    at: "2026-01-01T08:00:33.000Z",
    actor: worker,
    ...common,
    vmid: 101,
    target: "node2",
    items: [
      { name: "target-online", status: "pass" },
      { name: "target-memory", status: "warn", reason: "node2 keeps 1.2 GiB free" },
      { name: "no-local-resources", status: "pass" },
    ],
  },
  "migration.started": {
    type: "migration.started",
    at: "2026-01-01T08:00:36.000Z",
    actor: worker,
    ...common,
    vmid: 101,
    upid,
    target: "node2",
  },
  "migration.progress": {
    type: "migration.progress",
    at: "2026-01-01T08:00:40.000Z",
    actor: worker,
    ...common,
    vmid: 101,
    upid,
    transferredBytes: 536870912,
    totalBytes: 2147483648,
    percent: 25,
  },
  "migration.result": {
    type: "migration.result",
    at: "2026-01-01T08:00:58.000Z",
    actor: worker,
    ...common,
    vmid: 101,
    status: "ok",
    target: "node2",
    upid,
    pve: {
      durationMs: 21_000,
      downtimeMs: 57,
      transferredBytes: 2254857830,
      totalBytes: 2147483648,
      averageSpeed: 107374182,
    },
    qos: {
      observedDowntimeMs: 80,
      loss: 0.004,
      delayMs: 0.52,
      jitterMs: 0.08,
      throughputBps: 9.4e8,
      grades: { downtime: "very good", loss: "good", delay: "very good", jitter: "very good" },
    },
  },
  "evacuation.finished": {
    type: "evacuation.finished",
    at: "2026-01-01T08:02:00.000Z",
    actor: worker,
    ...common,
    status: "completed",
    summary: { moved: 2, failed: 0, skipped: 0, blocked: 1 },
  },
  "command.denied": {
    type: "command.denied",
    at: "2026-01-01T09:00:00.000Z",
    actor: { kind: "discord", id: "222222222222222222", name: "bob" },
    node: "node2",
    command: "/evacuate node:node2",
    reason: "bob lacks an operator role",
  },
  error: {
    type: "error",
    at: "2026-01-01T08:01:10.000Z",
    actor: worker,
    ...common,
    vmid: 102,
    code: "PVE_API",
    message: "Proxmox API POST /nodes/node1/qemu/102/migrate failed (HTTP 500): VM is locked (backup)",
    pve: {
      method: "POST",
      path: "/nodes/node1/qemu/102/migrate",
      status: 500,
      pveMessage: "VM is locked (backup)",
    },
  },
};
