/** Autocomplete choices from the cached cluster view. */
import type { ClusterView } from "../planning/clusterView.ts";
import { type AutocompleteChoice, filterChoices } from "./command.ts";

export function nodeChoices(
  view: ClusterView | undefined,
  typed: string,
  except?: string,
): AutocompleteChoice[] {
  if (!view) return [];
  return filterChoices(
    view.nodes
      .filter((n) => n.name !== except)
      .map((n) => {
        const running = view.guests.filter((g) => g.node === n.name && g.status === "running").length;
        const state = !n.online ? "offline" : n.maintenance ? "maintenance" : "online";
        return { name: `${n.name} (${state}, ${running} running)`, value: n.name };
      }),
    typed,
  );
}

export function vmChoices(view: ClusterView | undefined, typed: string): AutocompleteChoice[] {
  if (!view) return [];
  return filterChoices(
    view.guests.map((g) => ({
      name: `${g.vmid} ${g.name} (${g.type} on ${g.node}, ${g.status})`,
      value: String(g.vmid),
    })),
    typed,
  );
}
