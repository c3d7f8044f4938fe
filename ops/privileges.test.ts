import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkPrivileges,
  PRIVILEGE_REQUIREMENTS,
  privilegeTableMarkdown,
  pveumCommands,
  requirementsFor,
} from "./privileges.ts";

describe("privileges the token needs", () => {
  it("are the ones the README quotes", () => {
    expect(requirementsFor(9).map((r) => `${r.anyOf.join("|")} ${r.path} ${r.level}`)).toEqual([
      "VM.Audit /vms required",
      "VM.Migrate /vms required",
      "VM.GuestAgent.Audit|VM.GuestAgent.Unrestricted /vms recommended",
      "Sys.Audit /nodes required",
      "Sys.Audit / required",
      "Sys.Modify /nodes recommended",
    ]);
    expect(requirementsFor(8).some((r) => r.anyOf.includes("VM.Monitor"))).toBe(true);
    expect(requirementsFor(undefined)).toHaveLength(PRIVILEGE_REQUIREMENTS.length);
    expect(privilegeTableMarkdown()).toContain("| `/vms` | `VM.Migrate` | required |");
  });

  it("suggests a role without the broad Sys.Modify", () => {
    const [role, user, token] = pveumCommands("evacuate@pve!bot", 9);
    expect(role).toBe(
      'pveum role add PveEvacuate --privs "VM.Audit,VM.Migrate,VM.GuestAgent.Audit,Sys.Audit"',
    );
    expect(user).toBe("pveum acl modify / --users 'evacuate@pve' --roles PveEvacuate");
    expect(token).toBe("pveum acl modify / --tokens 'evacuate@pve!bot' --roles PveEvacuate");
  });

  it("granting everything on / (propagated everywhere) satisfies every requirement", () => {
    fc.assert(
      fc.property(fc.constantFrom(7, 8, 9, 10), (major) => {
        const all = Object.fromEntries(requirementsFor(major).flatMap((r) => r.anyOf.map((p) => [p, 1])));
        const tree = { "/": all, "/nodes": all, "/vms": all };
        expect(checkPrivileges(tree, major).every((r) => r.status === "ok")).toBe(true);
      }),
    );
  });

  it("removing any one privilege is reported for exactly the requirements that need it", () => {
    const reqs = requirementsFor(9);
    const privs = [...new Set(reqs.flatMap((r) => r.anyOf))];
    fc.assert(
      fc.property(fc.constantFrom(...privs), fc.constantFrom("/", "/nodes", "/vms"), (priv, path) => {
        const all = Object.fromEntries(privs.map((p) => [p, 1]));
        const without = { ...all };
        delete without[priv];
        const tree = { "/": all, "/nodes": all, "/vms": all, [path]: without };
        for (const r of checkPrivileges(tree, 9)) {
          const affected =
            r.requirement.path === path &&
            r.requirement.anyOf.length === 1 &&
            r.requirement.anyOf[0] === priv;
          expect(r.status === "ok").toBe(!affected);
        }
      }),
    );
  });
});
