import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseUpid } from "../proxmox/upid.ts";
import { TaskRegistry } from "./tasks.ts";

const BOOT = 1_700_000_000;

function registry(nowMs = (BOOT + 86_400) * 1000) {
  let now = nowMs;
  const tasks = new TaskRegistry(() => now);
  return { tasks, advance: (ms: number) => (now += ms) };
}

describe("TaskRegistry", () => {
  it("mints UPIDs that parse back to the task", () => {
    const { tasks } = registry();
    const t = tasks.start({
      node: "node1",
      type: "qmigrate",
      id: "101",
      user: "evacuate@pve!lab",
      nodeBootEpochS: BOOT,
    });
    expect(parseUpid(t.upid)).toEqual({
      node: "node1",
      pid: t.pid,
      pstart: t.pstart,
      starttime: BOOT + 86_400,
      type: "qmigrate",
      id: "101",
      user: "evacuate@pve!lab",
    });
    expect(t.pstart).toBe(86_400 * 100);
    const other = tasks.start({
      node: "node1",
      type: "qmigrate",
      id: "101",
      user: "evacuate@pve!lab",
      nodeBootEpochS: BOOT,
    });
    expect(other.upid).not.toBe(t.upid);
  });

  it("reports status with the token split off, and the exit status once stopped", () => {
    const { tasks } = registry();
    const t = tasks.start({
      node: "node1",
      type: "qmigrate",
      id: "101",
      user: "evacuate@pve!lab",
      nodeBootEpochS: BOOT,
    });
    expect(tasks.status(t)).toMatchObject({ status: "running", user: "evacuate@pve", tokenid: "lab" });
    expect(tasks.status(t)).not.toHaveProperty("exitstatus");
    tasks.finish(t, "migration aborted");
    expect(tasks.status(t)).toMatchObject({ status: "stopped", exitstatus: "migration aborted" });
    expect(t.lines.at(-1)).toBe("TASK ERROR: migration aborted");
    tasks.log(t, "after the end");
    expect(t.lines.at(-1)).toBe("TASK ERROR: migration aborted");
  });

  it("writes TASK OK and TASK WARNINGS: n as PVE does", () => {
    const { tasks } = registry();
    const a = tasks.start({ node: "n", type: "x", id: "", user: "root@pam", nodeBootEpochS: BOOT });
    const b = tasks.start({ node: "n", type: "x", id: "", user: "root@pam", nodeBootEpochS: BOOT });
    tasks.finish(a, "OK");
    tasks.finish(b, "WARNINGS: 2");
    expect(a.lines).toEqual(["TASK OK"]);
    expect(b.lines).toEqual(["TASK WARNINGS: 2"]);
  });

  it("pages the log: start is 0-based, n 1-based, limit 0 reads all, an empty log says no content", () => {
    const { tasks } = registry();
    const t = tasks.start({ node: "n", type: "x", id: "", user: "root@pam", nodeBootEpochS: BOOT });
    expect(tasks.readLog(t)).toEqual({ lines: [{ n: 1, t: "no content" }], total: 1 });
    tasks.log(t, "a\nb\nc");
    expect(tasks.readLog(t, 1, 1)).toEqual({ lines: [{ n: 2, t: "b" }], total: 3 });
    expect(tasks.readLog(t, 0, 0).lines.map((l) => l.t)).toEqual(["a", "b", "c"]);
    expect(tasks.readLog(t, 5, 10)).toEqual({ lines: [], total: 3 });
  });

  it("any page of the log is a slice of the whole log", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 80 }), fc.nat(100), fc.nat(60), (count, start, limit) => {
        const { tasks } = registry();
        const t = tasks.start({ node: "n", type: "x", id: "", user: "root@pam", nodeBootEpochS: BOOT });
        for (let i = 0; i < count; i++) tasks.log(t, `line ${i}`);
        const page = tasks.readLog(t, start, limit);
        const expected = t.lines.slice(start, limit === 0 ? undefined : start + limit);
        expect(page.lines.map((l) => l.t)).toEqual(expected);
        expect(page.lines.map((l) => l.n)).toEqual(expected.map((_, i) => start + i + 1));
        expect(page.total).toBe(count);
      }),
    );
  });

  it("lists tasks as PVE's node task list does: archive by default, RUNNING only for active/all", () => {
    const { tasks, advance } = registry();
    const done = tasks.start({
      node: "node1",
      type: "qmigrate",
      id: "101",
      user: "evacuate@pve!lab",
      nodeBootEpochS: BOOT,
    });
    tasks.finish(done, "OK");
    advance(2000);
    const failed = tasks.start({
      node: "node1",
      type: "qmigrate",
      id: "102",
      user: "evacuate@pve!lab",
      nodeBootEpochS: BOOT,
    });
    tasks.finish(failed, "migration aborted");
    advance(2000);
    const running = tasks.start({
      node: "node1",
      type: "hamigrate",
      id: "103",
      user: "root@pam",
      nodeBootEpochS: BOOT,
    });
    tasks.start({ node: "node2", type: "qmigrate", id: "104", user: "root@pam", nodeBootEpochS: BOOT });

    const ids = (q: Parameters<TaskRegistry["list"]>[1]) => tasks.list("node1", q).tasks.map((t) => t.id);
    expect(ids({})).toEqual(["102", "101"]);
    expect(ids({ source: "active" })).toEqual(["103"]);
    expect(ids({ source: "all" })).toEqual(["103", "102", "101"]);
    expect(tasks.list("node1", { source: "all" }).tasks[0]).toMatchObject({
      upid: running.upid,
      status: "RUNNING",
    });
    expect(ids({ source: "all", vmid: 101 })).toEqual(["101"]);
    expect(ids({ source: "all", typefilter: "hamigrate" })).toEqual(["103"]);
    expect(ids({ errors: true })).toEqual(["102"]);
    expect(ids({ statusfilter: "ok" })).toEqual(["101"]);
    expect(ids({ source: "all", owner: "evacuate@pve!lab" })).toEqual(["102", "101"]);
    expect(ids({ start: 1, limit: 1 })).toEqual(["101"]);
    expect(tasks.list("node1", { start: 1, limit: 1 }).total).toBe(2);
    expect(ids({ limit: 0 })).toEqual([]);
  });

  it("stops a running task through its stop handler only", () => {
    const { tasks } = registry();
    const t = tasks.start({ node: "n", type: "x", id: "", user: "root@pam", nodeBootEpochS: BOOT });
    let stops = 0;
    t.onStop = () => {
      stops++;
      tasks.finish(t, "interrupted by signal");
    };
    tasks.stop(t);
    tasks.stop(t);
    expect(stops).toBe(1);
  });
});
